package middleware_test

// Hostile review of the Lambda middleware: each TestReview... test below
// states a promise of the package (its doc, the wrappers' docs or
// docs/GUARANTEES.md) and drives the public API, against DynamoDB Local
// (with internal/httpfault for the faults), into breaking it.

import (
	"bytes"
	"context"
	"errors"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/internal/mwopt"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// reviewIsRelease reports whether r is a release (or a clean-up after an
// acquire), which names the ReleasedAt attribute; acquires do not.
func reviewIsRelease(r httpfault.Request) bool {
	return r.Op == "UpdateItem" && bytes.Contains(r.Body, []byte(`"#relAt"`))
}

// reviewIsAcquire reports whether r is an acquire: it sets AcquiredAt.
func reviewIsAcquire(r httpfault.Request) bool {
	return r.Op == "UpdateItem" && bytes.Contains(r.Body, []byte(`"#acq"`))
}

// reviewNames reports whether r is about the lock ID id.
func reviewNames(r httpfault.Request, id string) bool {
	return bytes.Contains(r.Body, []byte(`"`+shape.Table.PartitionKeyPrefix+id+`"`))
}

// Promise: "the locks are released before the handler returns" and
// "nothing left locked", within the release's bound, the reserve (v0.1:
// WithReleaseTimeout is gone; the reserve bounds the release). A handler
// that returns at once, with most of its invocation's time left, has its
// lock released even when the release takes longer than the default
// reserve, as long as it takes less than the reserve given. Else the next
// invocation would find its entity locked by an invocation that finished
// long ago (and with Skip acknowledge it without running it).
func TestReviewEarlyReturnReleaseCappedAtReserve(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		opts         []middleware.Option
		releaseDelay time.Duration // added latency of each release request
	}{
		// The caller gave the release 2 s and has 30 s left; a 700 ms
		// response (one throttled retry's backoff) must not leave the lock.
		{"reserve 2s", []middleware.Option{middleware.WithReserve(2 * time.Second)}, 700 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.net.Rule = func(r httpfault.Request) httpfault.Action {
				if reviewIsRelease(r) {
					return httpfault.Action{Delay: tc.releaseDelay}
				}
				return httpfault.Action{}
			}
			h := must(middleware.Wrap(e.c, middleware.Constant[string]("early"),
				func(ctx context.Context, _ string) (string, error) { return "done", nil }, e.opts(tc.opts...)...))(t)
			ctx, deadline := lambdaCtx(t, "req-early", 30*time.Second)
			out, err := h(ctx, "x")
			if err != nil || out != "done" {
				t.Fatalf("got %q, %v", out, err)
			}
			left := time.Until(deadline)
			if r := e.record("early"); r.Held(time.Now()) {
				t.Errorf("the handler returned with %s of its invocation left, but its lock is still held until %s (%s after the deadline); release log: %v",
					left.Round(time.Millisecond), r.ExpiresAt.Format(time.RFC3339Nano), r.ExpiresAt.Sub(deadline).Round(time.Millisecond), e.logLines("release failed"))
			}
			// The next event for the entity, from another invocation.
			ran := false
			skip := must(middleware.Wrap(e.c, middleware.Constant[string]("early"),
				func(ctx context.Context, _ string) (string, error) { ran = true; return "done", nil }, e.opts(middleware.WithOnHeld(middleware.Skip))...))(t)
			ctx2, _ := lambdaCtx(t, "req-next", 30*time.Second)
			if _, err := skip(ctx2, "y"); err != nil || !ran {
				t.Errorf("next invocation (Skip), nobody running: ran=%v err=%v: acknowledged without running", ran, err)
			}
		})
	}
}

// Promise: "a batch never outlives its deadline because of the
// middleware" (and the reserve "bounds the release"). An event with two
// keys whose second acquire DynamoDB is slow to answer is cut off at the
// deadline less the reserve; then the lock spends the release timeout (the
// reserve) on the clean-up of that acquire, and after it, one more release
// timeout on releasing the first key's lease: the wrapped handler returns
// up to a reserve after the deadline, when Lambda has already stopped it,
// so the first key's lock is also left held. The handler never ran.
func TestReviewMultiKeyAcquireOutlivesDeadline(t *testing.T) {
	t.Parallel()
	const (
		timeout = 2 * time.Second
		reserve = 500 * time.Millisecond
		slack   = 150 * time.Millisecond
	)
	slow := func(e *env) {
		e.net.Rule = func(r httpfault.Request) httpfault.Action {
			switch {
			case r.Op != "UpdateItem":
			case reviewNames(r, "test/B"): // B: acquire and its clean-up
				return httpfault.Action{Delay: time.Minute}
			case reviewNames(r, "test/A") && reviewIsRelease(r): // A's release
				return httpfault.Action{Delay: time.Minute}
			}
			return httpfault.Action{}
		}
	}
	t.Run("Wrap", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		slow(e)
		ran := false
		h := must(middleware.Wrap(e.c, middleware.Constant[string]("A", "B"),
			func(ctx context.Context, _ string) (string, error) { ran = true; return "", nil },
			e.opts(middleware.WithReserve(reserve))...))(t)
		ctx, deadline := lambdaCtx(t, "req-ab", timeout)
		_, err := h(ctx, "x")
		if late := time.Since(deadline); late > slack {
			t.Errorf("the wrapped handler returned %s after the invocation's deadline (reserve %s); error: %v", late.Round(time.Millisecond), reserve, err)
		}
		if ran {
			t.Error("handler ran")
		}
	})
	t.Run("WrapSQS", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		slow(e)
		h := must(middleware.WrapSQS(e.c, middleware.SQSBody("skus"),
			func(ctx context.Context, _ events.SQSMessage) error { return nil },
			e.opts(middleware.WithReserve(reserve))...))(t)
		ctx, deadline := lambdaCtx(t, "req-sqs-ab", timeout)
		resp, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: `{"skus":["A","B"]}`}}})
		if late := time.Since(deadline); late > slack {
			t.Errorf("the batch returned %s after the invocation's deadline (reserve %s); failures %v, error: %v", late.Round(time.Millisecond), reserve, failures(resp), err)
		}
	})
}

// Promise (GUARANTEES, Lambda): "The middleware sizes the lease to the
// invocation's deadline plus a grace ... whatever lock options are
// passed"; package doc: "A lock is leased until the invocation's deadline
// plus a grace ..., so the lock of an invocation that Lambda stops at its
// timeout frees itself shortly after". Under OnHeld(Wait) the TTL is
// computed at the start of each one-second wait slice and counted from the
// attempt that gets the lock, so a lock taken late in a slice is leased up
// to a slice (1 s, not configurable) past the deadline plus the grace:
// with a grace of 100 ms an invocation killed at its timeout keeps its
// entity locked about ten times longer than configured.
func TestReviewWaitLeaseOutlastsDeadlinePlusGrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const grace = 100 * time.Millisecond
	// The other holder releases 850 ms after the invocation starts: late
	// in the waiter's first slice (the waiter polls every 10-20 ms).
	other := e.hold("w", time.Minute)
	var (
		rec admin.Record
		got bool
	)
	h := must(middleware.Wrap(e.c, middleware.Constant[string]("w"),
		func(ctx context.Context, _ string) (string, error) {
			rec, got = e.record("w"), true
			return "", nil
		}, e.opts(middleware.WithOnHeld(middleware.Wait))...))(t)
	ctx, deadline := lambdaCtx(t, "req-wait", 6*time.Second)
	ctx = withSettings(ctx, mwopt.Settings{Grace: grace,
		LockOptions: []func(*lockopt.Options){lockopt.RetryInterval(10*time.Millisecond, 20*time.Millisecond)}})
	time.AfterFunc(850*time.Millisecond, func() {
		if err := other.Release(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if _, err := h(ctx, "x"); err != nil || !got {
		t.Fatalf("handler did not run: %v", err)
	}
	if over := rec.ExpiresAt.Sub(deadline.Add(grace)); over > 50*time.Millisecond {
		t.Errorf("the lease taken after the wait ends %s after the deadline plus the grace (grace %s): a killed invocation holds the lock %s longer than promised",
			over.Round(time.Millisecond), grace, over.Round(time.Millisecond))
	}
}

// Promise: "returns an error matching ErrNoTime when too little time is
// left to take a lock"; other acquisition failures match
// lock.ErrLockAcquisition (an outage, for the alarms). The fix of 3459b24
// made a wait whose last attempt the deadline cuts off end with ErrNoTime;
// under Fail (and Skip) the same cut-off of the first attempt, by the
// same deadline less the reserve, is still reported as a DynamoDB failure
// without ErrNoTime. Here DynamoDB answers in 60 ms and the invocation has
// 40 ms before its deadline less the reserve.
func TestReviewFirstAttemptCutOffByDeadlineIsNotNoTime(t *testing.T) {
	t.Parallel()
	for _, policy := range []middleware.HeldPolicy{middleware.Fail, middleware.Skip} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.net.Rule = func(r httpfault.Request) httpfault.Action {
				if reviewIsAcquire(r) {
					return httpfault.Action{Delay: 60 * time.Millisecond}
				}
				return httpfault.Action{}
			}
			const reserve = 300 * time.Millisecond
			h := must(middleware.Wrap(e.c, middleware.Constant[string]("late"),
				func(ctx context.Context, _ string) (string, error) { return "", nil },
				e.opts(middleware.WithReserve(reserve), middleware.WithOnHeld(policy))...))(t)
			ctx, _ := lambdaCtx(t, "req-late", reserve+40*time.Millisecond)
			_, err := h(ctx, "x")
			if !errors.Is(err, middleware.ErrNoTime) {
				t.Errorf("error %v (ErrLockAcquisition: %v), want ErrNoTime: the deadline less the reserve cut the acquire off",
					err, errors.Is(err, lock.ErrLockAcquisition))
			}
		})
	}
}

// Promise: "too little time → ErrNoTime", and only then. A grace near the
// largest duration (v0.1: the module's own knob, internal/mwopt) must not
// overflow the lease's length into "no time", for every event, however
// much time is left.
func TestReviewHugeGraceIsNoTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := must(middleware.Wrap(e.c, middleware.Constant[string]("g"),
		func(ctx context.Context, _ string) (string, error) { return "ok", nil },
		e.opts()...))(t)
	ctx, _ := lambdaCtx(t, "req-grace", 10*time.Minute)
	ctx = withSettings(ctx, mwopt.Settings{Grace: math.MaxInt64})
	out, err := h(ctx, "x")
	if errors.Is(err, middleware.ErrNoTime) {
		t.Errorf("with 10 minutes left: %v (want ErrInvalidInput at construction, or a run)", err)
	} else if err != nil && !errors.Is(err, lock.ErrInvalidInput) || err == nil && out != "ok" {
		t.Errorf("got %q, %v", out, err)
	}
}

// Promise (WrapSQS, and "nothing lost"): batchItemFailures names exactly
// the records not processed; no record is acknowledged that did not run to
// its end. A handler that ends its goroutine with runtime.Goexit (as
// t.FailNow, or a helper calling it, does) neither returns nor panics:
// WrapSQS reports the record as processed, and the later records of its
// FIFO group run.
func TestReviewSQSGoexitAcknowledged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var (
		mu  sync.Mutex
		ran []string
	)
	h := must(middleware.WrapSQS(e.c, middleware.SQSMessageGroupID(),
		func(ctx context.Context, m events.SQSMessage) error {
			mu.Lock()
			ran = append(ran, m.MessageId)
			mu.Unlock()
			if m.MessageId == "g-1" {
				runtime.Goexit()
			}
			return nil
		}, e.opts()...))(t)
	ctx, _ := lambdaCtx(t, "req-goexit", 10*time.Second)
	batch := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "g-1", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:q.fifo", Attributes: map[string]string{"MessageGroupId": "g"}},
		{MessageId: "g-2", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:q.fifo", Attributes: map[string]string{"MessageGroupId": "g"}},
	}}
	resp, err := h(ctx, batch)
	if f := failures(resp); len(f) != 2 {
		t.Errorf("failures %v, error %v; ran %v: g-1 never finished but was acknowledged, and g-2 ran after it", f, err, ran)
	}
}

// Promise (1): one entity handled by one invocation at a time, across
// wrappers sharing a namespace. Keys that are JSON numbers become lock IDs
// as written: 42 and 42.0 (the same number, and equal in JMESPath) are
// two locks, so an SQS function and an EventBridge function on account 42
// run at once when one producer writes the number as a float (as Python's
// json.dumps(42.0) does).
func TestReviewNumericKeysNotCanonical(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inside := make(chan struct{})
	release := make(chan struct{})
	eb := must(middleware.WrapNoOutput(e.c, middleware.EventBridgeDetail("accountId"),
		func(ctx context.Context, _ events.EventBridgeEvent) error {
			close(inside)
			<-release
			return nil
		}, e.opts()...))(t)
	done := make(chan error, 1)
	go func() {
		ctx, _ := lambdaCtx(t, "req-eb", 10*time.Second)
		done <- eb(ctx, events.EventBridgeEvent{ID: "ev-1", Detail: []byte(`{"accountId":42.0}`)})
	}()
	select {
	case <-inside:
	case err := <-done:
		t.Fatalf("EventBridge handler did not run: %v", err)
	}
	overlap := false
	sqs := must(middleware.WrapSQS(e.c, middleware.SQSBody("accountId"),
		func(ctx context.Context, _ events.SQSMessage) error { overlap = true; return nil }, e.opts()...))(t)
	ctx, _ := lambdaCtx(t, "req-sqs", 10*time.Second)
	resp, err := sqs(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m-42", Body: `{"accountId":42}`}}})
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if overlap {
		t.Errorf("account 42 handled by two invocations at once (lock IDs %q and %q); failures %v, %v",
			middleware.LockID("test", "42.0"), middleware.LockID("test", "42"), failures(resp), err)
	}

}

// Promise (WrapSQS): records sharing a key run one after the other in batch
// order; Skip acknowledges a record only when another invocation holds its
// lock; nothing lost. Within one batch, the second of two records of one
// key finds the lock still held by the first, which has finished, because
// the first's release was capped at the reserve (1 ms with WithReserve(0);
// 500 ms by default against a 600 ms answer): under Skip the second record
// is acknowledged without ever running, though nobody holds the entity.
func TestReviewSQSSameKeySkippedAfterSlowRelease(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		opts         []middleware.Option
		releaseDelay time.Duration
	}{
		{"reserve 0", []middleware.Option{middleware.WithReserve(0)}, 20 * time.Millisecond},
		{"default reserve", nil, 600 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.net.Rule = func(r httpfault.Request) httpfault.Action {
				if reviewIsRelease(r) {
					return httpfault.Action{Delay: tc.releaseDelay}
				}
				return httpfault.Action{}
			}
			var (
				mu  sync.Mutex
				ran []string
			)
			h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"),
				func(ctx context.Context, m events.SQSMessage) error {
					mu.Lock()
					defer mu.Unlock()
					ran = append(ran, m.MessageId)
					return nil
				}, e.opts(append(tc.opts, middleware.WithOnHeld(middleware.Skip))...)...))(t)
			ctx, _ := lambdaCtx(t, "req-skip", 30*time.Second)
			resp, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{
				{MessageId: "mug-1", Body: `{"sku":"MUG"}`},
				{MessageId: "mug-2", Body: `{"sku":"MUG"}`},
			}})
			mu.Lock()
			defer mu.Unlock()
			// mug-2 must run, or be reported failed (SQS delivers it again):
			// never acknowledged without running.
			if len(ran) != 2 && !slices.Contains(failures(resp), "mug-2") {
				t.Errorf("ran %v, failures %v, error %v: mug-2 acknowledged without running, its lock held by mug-1 of this very batch, which had finished",
					ran, failures(resp), err)
			}
		})
	}
}
