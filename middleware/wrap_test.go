package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/internal/mwopt"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// waitSlice is how long the Wait policy tries with one lease length
// before it sizes the lease from the deadline again.
const waitSlice = time.Second

func discardLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// events/eventbridge-account.json is account 42's event.
func TestWrapHeldLockPerPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		policy  middleware.HeldPolicy
		holdFor time.Duration
		timeout time.Duration
		wantRan bool
		wantErr error
	}{
		{"fail", middleware.Fail, time.Minute, 10 * time.Second, false, lock.ErrLockAlreadyAcquired},
		{"skip", middleware.Skip, time.Minute, 10 * time.Second, false, nil},
		{"wait for a lease that ends", middleware.Wait, 300 * time.Millisecond, 10 * time.Second, true, nil},
		{"wait past the time left", middleware.Wait, time.Minute, 1200 * time.Millisecond, false, lock.ErrLockAlreadyAcquired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.hold("42", tc.holdFor)
			ran := false
			h := must(middleware.Wrap(e.c, middleware.EventBridgeDetail("accountId"),
				func(ctx context.Context, ev events.EventBridgeEvent) (string, error) {
					ran = true
					return "done", nil
				}, e.opts(middleware.WithOnHeld(tc.policy))...))(t)
			ctx, _ := lambdaCtx(t, "req-1", tc.timeout)
			out, err := h(ctx, loadEventBridge(t, "eventbridge-account.json"))
			if tc.wantErr == nil && err != nil || !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if ran != tc.wantRan || (out == "done") != tc.wantRan {
				t.Errorf("handler ran %v (output %q), want %v", ran, out, tc.wantRan)
			}
			held := e.logLines("lock held")
			if len(held) == 0 || held[0]["requestId"] != "req-1" || !strings.Contains(fmt.Sprint(held[0]["lockIds"]), "test/42") {
				t.Errorf("contention not logged with request and lock IDs:\n%s", e.logs)
			}
		})
	}
}

// A scheduled singleton: of two overlapping runs of one schedule, the
// second is skipped; the next run after the first finished goes ahead.
func TestWrapScheduleSingleton(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	started, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int32
	metrics := new(syncBuffer)
	h := must(middleware.Wrap(e.c, middleware.JMESPath[events.EventBridgeEvent]("resources[0]"),
		func(ctx context.Context, ev events.EventBridgeEvent) (int, error) {
			n := runs.Add(1)
			if n == 1 {
				close(started)
				<-release
			}
			return int(n), nil
		}, e.opts(middleware.WithOnHeld(middleware.Skip), middleware.WithMetrics(metrics))...))(t)
	ev := loadEventBridge(t, "schedule.json")
	first := make(chan error)
	go func() {
		ctx, _ := lambdaCtx(t, "run-1", 10*time.Second)
		_, err := h(ctx, ev)
		first <- err
	}()
	<-started
	ctx, _ := lambdaCtx(t, "run-2", 10*time.Second)
	if n, err := h(ctx, ev); err != nil || n != 0 {
		t.Errorf("overlapping run: %d, %v; want skipped", n, err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	ctx, _ = lambdaCtx(t, "run-3", 10*time.Second)
	if n, err := h(ctx, ev); err != nil || n != 2 {
		t.Errorf("next run: %d, %v; want run 2", n, err)
	}
	id := middleware.LockID("test", "arn:aws:events:us-east-1:123456789012:rule/nightly-rollup")
	if !strings.Contains(e.logs.String(), id) {
		t.Errorf("log does not name lock %s:\n%s", id, e.logs)
	}
	// One EMF line per invocation; the second counts the skip.
	lines := strings.Split(strings.TrimSpace(metrics.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d metric lines, want 3:\n%s", len(lines), metrics)
	}
	skips := 0
	for _, line := range lines {
		var m struct {
			AWS struct {
				CloudWatchMetrics []struct{ Namespace string }
			} `json:"_aws"`
			Skipped, Contended int
			AcquireLatency     []float64
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil || len(m.AWS.CloudWatchMetrics) != 1 || m.AWS.CloudWatchMetrics[0].Namespace != "DynaLock" {
			t.Fatalf("not EMF: %s (%v)", line, err)
		}
		skips += m.Skipped
		if m.Skipped == 0 && len(m.AcquireLatency) != 1 {
			t.Errorf("run without acquire latency: %s", line)
		}
	}
	if skips != 1 {
		t.Errorf("%d skips in metrics, want 1:\n%s", skips, metrics)
	}
}

func TestWrapKeyErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ev := loadEventBridge(t, "eventbridge-account.json")
	for _, tc := range []struct {
		name   string
		key    middleware.Key[events.EventBridgeEvent]
		detail string
		expr   string
	}{
		{"missing path", middleware.EventBridgeDetail("customerId"), `{"accountId":"42"}`, `"customerId"`},
		{"empty value", middleware.EventBridgeDetail("accountId"), `{"accountId":"  "}`, `"accountId"`},
		{"not a string", middleware.EventBridgeDetail("accountId"), `{"accountId":true}`, `"accountId"`},
		{"detail not JSON", middleware.EventBridgeDetail("accountId"), `not json`, `"accountId"`},
		{"empty list", middleware.EventBridgeDetail("accounts"), `{"accounts":[]}`, `"accounts"`},
		{"no schedule", middleware.JMESPath[events.EventBridgeEvent]("resources[0]"), `{}`, `"resources[0]"`},
		{"custom", middleware.KeyFunc("tenant lookup", func(context.Context, events.EventBridgeEvent) ([]string, error) { return nil, errors.New("no tenant") }),
			`{}`, "tenant lookup"},
		{"custom empty", middleware.KeyFunc("tenant lookup", func(context.Context, events.EventBridgeEvent) ([]string, error) { return []string{""}, nil }),
			`{}`, "tenant lookup"},
		{"custom, none", middleware.KeyFunc("tenant lookup", func(context.Context, events.EventBridgeEvent) ([]string, error) { return nil, nil }),
			`{}`, "tenant lookup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := ev
			ev.Detail = json.RawMessage(tc.detail)
			ran := false
			h := must(middleware.Wrap(e.c, tc.key, func(ctx context.Context, ev events.EventBridgeEvent) (struct{}, error) {
				ran = true
				return struct{}{}, nil
			}, e.opts()...))(t)
			_, err := h(context.Background(), ev)
			if !errors.Is(err, middleware.ErrNoKey) {
				t.Fatalf("error %v, want ErrNoKey", err)
			}
			if !containsAll(err.Error(), "no lock key from "+tc.expr, fmt.Sprintf("in event %q", ev.ID)) {
				t.Errorf("error %q: want expression %s and event %s named", err, tc.expr, ev.ID)
			}
			if ran {
				t.Error("handler ran without a key")
			}
		})
	}
	if n := e.net.Count("UpdateItem"); n != 0 {
		t.Errorf("%d lock requests for events without keys", n)
	}
}

// Without an event ID of its own, an event is named by the request ID.
func TestWrapKeyErrorNamesRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := must(middleware.Wrap(e.c, middleware.JMESPath[map[string]any]("tenant"),
		func(ctx context.Context, ev map[string]any) (any, error) { return nil, nil }, e.opts()...))(t)
	ctx, _ := lambdaCtx(t, "req-7", 0)
	_, err := h(ctx, map[string]any{"other": 1})
	if !errors.Is(err, middleware.ErrNoKey) || !strings.Contains(fmt.Sprint(err), `in event "req-7"`) {
		t.Errorf("error %v, want ErrNoKey naming request req-7", err)
	}
}

// The lease and the handler's context follow the invocation's deadline:
// lease = time to the deadline + grace; the handler's ctx ends the reserve
// before the deadline; without a deadline the lease is the lock client's
// TTL.
func TestWrapDeadlineArithmetic(t *testing.T) {
	t.Parallel()
	const (
		grace   = 3 * time.Second
		reserve = 700 * time.Millisecond
		ttl     = 7 * time.Second
	)
	for _, tc := range []struct {
		name    string
		timeout time.Duration // 0: no deadline
	}{
		{"deadline", 20 * time.Second},
		{"no deadline", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx, deadline := lambdaCtx(t, "req-1", tc.timeout)
			ctx = withSettings(ctx, mwopt.Settings{Grace: grace})
			var handlerDeadline time.Time
			var rec admin.Record
			var started time.Time
			h := must(middleware.Wrap(e.client(lock.Config{TTL: ttl}), middleware.Constant[string]("job"),
				func(ctx context.Context, _ string) (string, error) {
					handlerDeadline, _ = ctx.Deadline()
					rec = e.record("job")
					return "", nil
				}, e.opts(middleware.WithReserve(reserve))...))(t)
			started = time.Now()
			if _, err := h(ctx, "tick"); err != nil {
				t.Fatal(err)
			}
			finished := time.Now()
			if tc.timeout > 0 {
				if want := deadline.Add(-reserve); !handlerDeadline.Equal(want) {
					t.Errorf("handler's deadline %v, want deadline less reserve %v", handlerDeadline, want)
				}
				// The lease was written as the time left to the deadline plus
				// the grace, rounded up to the millisecond, counted from some
				// moment of the call.
				want := deadline.Add(grace)
				if rec.ExpiresAt.Before(want.Add(-time.Millisecond)) || rec.ExpiresAt.After(want.Add(finished.Sub(started)+time.Millisecond)) {
					t.Errorf("lease ends %v, want %v (deadline + grace)", rec.ExpiresAt, want)
				}
			} else {
				if lo, hi := started.Add(ttl-testSkew), finished.Add(ttl-testSkew); handlerDeadline.Before(lo) || handlerDeadline.After(hi) {
					t.Errorf("handler's deadline %v, want TTL less skew from the acquire, in [%v, %v]", handlerDeadline, lo, hi)
				}
				if lo, hi := started.Add(ttl).Add(-time.Millisecond), finished.Add(ttl).Add(time.Millisecond); rec.ExpiresAt.Before(lo) || rec.ExpiresAt.After(hi) {
					t.Errorf("lease ends %v, want TTL from the acquire, in [%v, %v]", rec.ExpiresAt, lo, hi)
				}
			}
			if r := e.record("job"); !r.Released || r.Held(time.Now()) {
				t.Errorf("lock not released when the handler returned: %+v", r)
			}
		})
	}
}

// A handler that runs until its context ends stops the reserve before the
// deadline, and the lock is released before the wrapper returns.
func TestWrapReserve(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const reserve = 400 * time.Millisecond
	ctx, deadline := lambdaCtx(t, "req-1", 1200*time.Millisecond)
	h := must(middleware.Wrap(e.c, middleware.Constant[string]("slow"),
		func(ctx context.Context, _ string) (string, error) {
			<-ctx.Done()
			return "", context.Cause(ctx)
		}, e.opts(middleware.WithReserve(reserve))...))(t)
	_, err := h(ctx, "x")
	returned := time.Now()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "reserve") {
		t.Errorf("error %v, want the reserve's deadline", err)
	}
	if returned.Before(deadline.Add(-reserve)) || !returned.Before(deadline) {
		t.Errorf("returned %v before the deadline, want within the reserve %v", deadline.Sub(returned), reserve)
	}
	if r := e.record("slow"); !r.Released {
		t.Errorf("lock not released: %+v", r)
	}
}

// An invocation with less time left than the reserve takes no lock and
// runs nothing.
func TestWrapNoTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, _ := lambdaCtx(t, "req-1", 100*time.Millisecond)
	h := must(middleware.Wrap(e.c, middleware.Constant[string]("late"),
		func(ctx context.Context, _ string) (string, error) {
			t.Error("handler ran")
			return "", nil
		}, e.opts(middleware.WithReserve(500*time.Millisecond))...))(t)
	if _, err := h(ctx, "x"); !errors.Is(err, middleware.ErrNoTime) {
		t.Errorf("error %v, want ErrNoTime", err)
	}
	if n := e.net.Count("UpdateItem"); n != 0 {
		t.Errorf("%d lock requests", n)
	}
}

// A lease taken after a wait still ends about the grace after the
// deadline, not the wait's length later.
func TestWrapWaitLeaseFollowsDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const grace = time.Second
	e.hold("42", 2500*time.Millisecond)
	ctx, deadline := lambdaCtx(t, "req-1", 8*time.Second)
	ctx = withSettings(ctx, mwopt.Settings{Grace: grace})
	var rec admin.Record
	h := must(middleware.Wrap(e.c, middleware.EventBridgeDetail("accountId"),
		func(ctx context.Context, _ events.EventBridgeEvent) (struct{}, error) {
			rec = e.record("42")
			return struct{}{}, nil
		}, e.opts(middleware.WithOnHeld(middleware.Wait))...))(t)
	if _, err := h(ctx, loadEventBridge(t, "eventbridge-account.json")); err != nil {
		t.Fatal(err)
	}
	if over := rec.ExpiresAt.Sub(deadline.Add(grace)); over > waitSlice+250*time.Millisecond {
		t.Errorf("lease ends %s after deadline + grace; a wait slice is %s", over, waitSlice)
	}
	if rec.Owner == "other-process" {
		t.Error("handler ran under the other process's lease")
	}
}

func TestWrapPanic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := must(middleware.Wrap(e.c, middleware.Constant[string]("p"),
		func(ctx context.Context, _ string) (string, error) { panic("boom") }, e.opts()...))(t)
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want boom", p)
			}
		}()
		_, _ = h(context.Background(), "x")
		t.Error("no panic")
	}()
	if r := e.record("p"); !r.Released {
		t.Errorf("lock not released after the panic: %+v", r)
	}
}

// Concurrent invocations in one process (AWS_LAMBDA_MAX_CONCURRENCY > 1):
// those on one account never overlap; those taking two accounts in
// opposite orders do not deadlock.
// The waiters poll at the default retry interval: 16 of them polling every
// few milliseconds saturate DynamoDB Local on a loaded machine, until
// releases, which the reserve bounds, are cut off and leave their locks
// held until the deadline plus the grace.
func TestWrapConcurrentInvocations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type transfer struct {
		ID       string `json:"id"`
		From, To string
	}
	var active, peak atomic.Int32
	h := must(middleware.Wrap(e.c, middleware.JMESPath[transfer]("[From, To]"),
		func(ctx context.Context, tr transfer) (string, error) {
			if l, ok := lock.FromContext(ctx); !ok || len(l.Tokens()) != 2 {
				return "", errors.New("want a lease of two locks")
			}
			n := active.Add(1)
			defer active.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(5 * time.Millisecond) // widen the window an overlap would show in
			return tr.ID, nil
		}, e.opts(middleware.WithOnHeld(middleware.Wait))...))(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			tr := transfer{ID: fmt.Sprint(i), From: "A", To: "B"}
			if i%2 == 1 {
				tr.From, tr.To = "B", "A"
			}
			ctx, _ := lambdaCtx(t, fmt.Sprintf("req-%d", i), 30*time.Second)
			out, err := h(ctx, tr)
			if err == nil && out != tr.ID {
				err = fmt.Errorf("invocation %d got output %q", i, out)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if p := peak.Load(); p != 1 {
		t.Errorf("%d invocations on accounts A and B at once", p)
	}
	e.requireFree("A", "B")
}

// A release that fails (here: the lock was force-released and taken over
// while the handler ran) is logged as an error; the handler's result
// stands.
func TestWrapReleaseFailureLogged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := must(middleware.Wrap(e.c, middleware.Constant[string]("stolen"),
		func(ctx context.Context, _ string) (string, error) {
			l, _ := lock.FromContext(ctx)
			in := shape.Table.ForceReleaseInput(e.table, l.LockID(), l.LeaseID(), l.FencingToken(), "operator", "test", time.Now())
			if _, err := srv.Client().UpdateItem(ctx, in); err != nil {
				return "", err
			}
			e.hold("stolen", time.Minute)
			return "ok", nil
		}, e.opts()...))(t)
	out, err := h(context.Background(), "x")
	if err != nil || out != "ok" {
		t.Fatalf("got %q, %v; want the handler's result", out, err)
	}
	lines := e.logLines("release failed")
	if len(lines) != 1 || lines[0]["level"] != "ERROR" || !strings.Contains(fmt.Sprint(lines[0]["error"]), "lost") {
		t.Errorf("want one ERROR entry about the lost lock, log:\n%s", e.logs)
	}
}

func TestWrapDisabledAndMisconfigured(t *testing.T) {
	t.Parallel()
	h := must(middleware.Wrap(nil, middleware.Key[string]{}, func(ctx context.Context, s string) (string, error) {
		if _, ok := lock.FromContext(ctx); ok {
			return "", errors.New("lease while disabled")
		}
		return s, nil
	}, middleware.WithDisabled(true), middleware.WithLogger(discardLogger())))(t)
	if out, err := h(context.Background(), "x"); err != nil || out != "x" {
		t.Errorf("disabled: %q, %v", out, err)
	}
	ns := middleware.WithNamespace("test")
	type built struct {
		h   func(context.Context, string) (string, error)
		err error
	}
	b := func(h func(context.Context, string) (string, error), err error) built { return built{h, err} }
	c := newEnv(t).c
	ok := func(context.Context, string) (string, error) { return "", nil }
	for name, w := range map[string]built{
		"nil client":          b(middleware.Wrap(nil, middleware.Constant[string]("k"), ok, ns)),
		"zero key":            b(middleware.Wrap(c, middleware.Key[string]{}, ok, ns)),
		"nil handler":         b(middleware.Wrap[string, string](c, middleware.Constant[string]("k"), nil, ns)),
		"concurrency":         b(middleware.Wrap(c, middleware.Constant[string]("k"), ok, ns, middleware.WithConcurrency(0))),
		"unknown policy":      b(middleware.Wrap(c, middleware.Constant[string]("k"), ok, ns, middleware.WithOnHeld(middleware.HeldPolicy(7)))),
		"negative reserve":    b(middleware.Wrap(c, middleware.Constant[string]("k"), ok, ns, middleware.WithReserve(-time.Second))),
		"disabled, bad conc.": b(middleware.Wrap(nil, middleware.Key[string]{}, ok, middleware.WithDisabled(true), middleware.WithConcurrency(0))),
	} {
		if w.h != nil || !errors.Is(w.err, lock.ErrInvalidInput) || strings.Contains(w.err.Error(), "namespace") {
			t.Errorf("%s: handler %v, error %v; want none and ErrInvalidInput", name, w.h != nil, w.err)
		}
	}
}

// When the time left plus the grace is no longer than the lock client's
// clock-skew tolerance, a lease could give the handler no time: the event
// fails with ErrNoTime (not ErrInvalidInput, which means a configuration
// error), and a wait ends with ErrNoTime or the held error.
func TestShortTimeLeftIsNoTime(t *testing.T) {
	t.Parallel()
	// A grace of 1 ns: none, as mwopt takes only a positive grace.
	noGrace := mwopt.Settings{Grace: time.Nanosecond}
	for _, tc := range []struct {
		name    string
		skew    time.Duration // the lock client's tolerance
		timeout time.Duration
		hidden  mwopt.Settings
		opts    []middleware.Option
		held    bool // another process holds the lock; the policy is Wait
	}{
		{"tolerance of 2s", 2 * time.Second, 900 * time.Millisecond, mwopt.Settings{}, nil, false},
		{"no grace", time.Second, 800 * time.Millisecond, noGrace, nil, false},
		{"tolerance from the lock options", testSkew, 900 * time.Millisecond,
			mwopt.Settings{LockOptions: []func(*lockopt.Options){lockopt.Skew(2 * time.Second)}}, nil, false},
		// The handler's context would last until 100 ms before the
		// deadline, but from 1 s before it a lease would end (less the
		// tolerance) at once.
		{"wait until the time is too short", time.Second, 2800 * time.Millisecond,
			noGrace, []middleware.Option{middleware.WithReserve(100 * time.Millisecond), middleware.WithOnHeld(middleware.Wait)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			c := e.otherClient(lock.Config{ClockSkewTolerance: tc.skew})
			if tc.held {
				e.hold("job", time.Minute)
			}
			check := func(err error, started time.Time) {
				t.Helper()
				if errors.Is(err, lock.ErrInvalidInput) {
					t.Errorf("error %v matches ErrInvalidInput", err)
				}
				if !errors.Is(err, middleware.ErrNoTime) {
					t.Errorf("error %v, want ErrNoTime", err)
				}
				if tc.held {
					// The wait went on while a lease could still have
					// given the handler time: until twice the tolerance
					// (the shortest TTL) before the deadline.
					if waited := time.Since(started); waited < tc.timeout-2*tc.skew-300*time.Millisecond {
						t.Errorf("gave up waiting after %s, want about %s", waited, tc.timeout-2*tc.skew)
					}
					if !errors.Is(err, lock.ErrLockAlreadyAcquired) {
						t.Errorf("error %v does not carry the held lock's error", err)
					}
				}
			}
			t.Run("Wrap", func(t *testing.T) {
				h := must(middleware.Wrap(c, middleware.Constant[string]("job"),
					func(ctx context.Context, _ string) (string, error) {
						t.Error("handler ran")
						return "", nil
					}, e.opts(tc.opts...)...))(t)
				ctx, _ := lambdaCtx(t, "req-1", tc.timeout)
				started := time.Now()
				_, err := h(withSettings(ctx, tc.hidden), "x")
				check(err, started)
			})
			t.Run("WrapSQS", func(t *testing.T) {
				h := must(middleware.WrapSQS(c, middleware.Constant[events.SQSMessage]("job"),
					func(ctx context.Context, _ events.SQSMessage) error {
						t.Error("handler ran")
						return nil
					}, e.opts(tc.opts...)...))(t)
				ctx, _ := lambdaCtx(t, "req-2", tc.timeout)
				started := time.Now()
				resp, err := h(withSettings(ctx, tc.hidden), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m-1"}}})
				if got := failures(resp); len(got) != 1 {
					t.Errorf("BatchItemFailures = %v, want [m-1]", got)
				}
				if !errors.Is(err, middleware.ErrBatchFailed) {
					t.Errorf("error %v, want ErrBatchFailed", err)
				}
				check(err, started)
			})
		})
	}
}

// A heartbeat of the lock client (lock.Config.Heartbeat) does not stretch
// the lease past the deadline plus the grace: a killed invocation's lock frees itself
// when the package doc says, however long the handler ran.
func TestHeartbeatDoesNotOutliveTheDeadline(t *testing.T) {
	t.Parallel()
	const (
		timeout   = 2 * time.Second
		grace     = 300 * time.Millisecond
		heartbeat = 100 * time.Millisecond
	)
	for _, tc := range []struct {
		name string
		run  func(e *env, ctx context.Context, h func(context.Context) error) error
	}{
		{"Wrap", func(e *env, ctx context.Context, h func(context.Context) error) error {
			w := must(middleware.Wrap(e.client(lock.Config{Heartbeat: heartbeat}), middleware.Constant[string]("job"),
				func(ctx context.Context, _ string) (struct{}, error) { return struct{}{}, h(ctx) },
				e.opts()...))(e.t)
			_, err := w(ctx, "x")
			return err
		}},
		{"WrapSQS", func(e *env, ctx context.Context, h func(context.Context) error) error {
			w := must(middleware.WrapSQS(e.client(lock.Config{Heartbeat: heartbeat}), middleware.Constant[events.SQSMessage]("job"),
				func(ctx context.Context, _ events.SQSMessage) error { return h(ctx) },
				e.opts()...))(e.t)
			_, err := w(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m-1"}}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx, deadline := lambdaCtx(t, "req-1", timeout)
			ctx = withSettings(ctx, mwopt.Settings{Grace: grace})
			var ends []time.Time
			err := tc.run(e, ctx, func(ctx context.Context) error {
				for range 3 {
					time.Sleep(3 * heartbeat)
					ends = append(ends, e.record("job").ExpiresAt)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			limit := deadline.Add(grace + 2*time.Millisecond) // the TTL and the stored end are rounded up to the millisecond
			for i, end := range ends {
				if end.After(limit) {
					t.Errorf("after %s of the handler, the lease ends %s after the deadline plus the grace", time.Duration(i+1)*3*heartbeat, end.Sub(limit))
				}
			}
		})
	}
}

// TestExtendDoesNotOutliveTheDeadline: a handler that extends its own
// lease (lock.FromContext(ctx).Extend) cannot keep a timed-out
// invocation's lock held past the deadline plus the grace: every lease the
// middleware takes ends there (lock.WithLeaseEnd), and an extension past
// it is refused with lock.ErrInvalidInput, without a request. The stored
// end never passes the deadline plus the grace.
func TestExtendDoesNotOutliveTheDeadline(t *testing.T) {
	t.Parallel()
	const (
		timeout = 2 * time.Second
		grace   = 300 * time.Millisecond
	)
	for _, tc := range []struct {
		name string
		run  func(e *env, ctx context.Context, h func(context.Context) error) error
	}{
		{"Wrap", func(e *env, ctx context.Context, h func(context.Context) error) error {
			w := must(middleware.Wrap(e.c, middleware.Constant[string]("job"),
				func(ctx context.Context, _ string) (struct{}, error) { return struct{}{}, h(ctx) },
				e.opts()...))(e.t)
			_, err := w(ctx, "x")
			return err
		}},
		{"WrapSQS", func(e *env, ctx context.Context, h func(context.Context) error) error {
			w := must(middleware.WrapSQS(e.c, middleware.Constant[events.SQSMessage]("job"),
				func(ctx context.Context, _ events.SQSMessage) error { return h(ctx) },
				e.opts()...))(e.t)
			resp, err := w(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m-1"}}})
			if err == nil && len(resp.BatchItemFailures) > 0 {
				err = errors.New("the record failed")
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx, deadline := lambdaCtx(t, "req-1", timeout)
			ctx = withSettings(ctx, mwopt.Settings{Grace: grace})
			limit := deadline.Add(grace + 2*time.Millisecond) // the TTL and the stored end are rounded up to the millisecond
			err := tc.run(e, ctx, func(ctx context.Context) error {
				lease, ok := lock.FromContext(ctx)
				if !ok {
					return errors.New("no lease in the handler's context")
				}
				for _, ttl := range []time.Duration{0, time.Minute} {
					e.net.Reset()
					err := lease.Extend(ctx, ttl)
					if !errors.Is(err, lock.ErrInvalidInput) || e.net.Total() != 0 {
						t.Errorf("Extend(%s) in the handler: %v after %d requests, want lock.ErrInvalidInput and none", ttl, err, e.net.Total())
					}
					if end := e.record("job").ExpiresAt; end.After(limit) {
						t.Errorf("after Extend(%s), the lease ends %s after the deadline plus the grace", ttl, end.Sub(limit))
					}
					if d := lease.Deadline(); d.After(limit) {
						t.Errorf("after Extend(%s), the lease's Deadline is %s after the deadline plus the grace", ttl, d.Sub(limit))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			e.requireFree("job")
		})
	}
}

// A key function that panics fails the event with a *KeyError that says
// so, instead of crashing the function.
func TestWrapKeyFunctionPanics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := must(middleware.Wrap(e.c, middleware.KeyFunc("tenant", func(context.Context, string) ([]string, error) { panic("no tenant") }),
		func(ctx context.Context, _ string) (string, error) {
			t.Error("handler ran")
			return "", nil
		}, e.opts()...))(t)
	ctx, _ := lambdaCtx(t, "req-9", 0)
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("the wrapper panicked: %v", p)
			}
		}()
		_, err = h(ctx, "x")
	}()
	if !errors.Is(err, middleware.ErrNoKey) || !containsAll(err.Error(), "no lock key from tenant", `in event "req-9"`, "panicked", "no tenant") {
		t.Errorf("error %v, want ErrNoKey for request req-9 saying the key function panicked", err)
	}
	if lines := e.logLines("key function panicked"); len(lines) != 1 || !strings.Contains(fmt.Sprint(lines[0]["stack"]), "TestWrapKeyFunctionPanics") {
		t.Errorf("want the panic's stack in the log:\n%s", e.logs)
	}
}

// WrapNoOutput serves the commonest EventBridge and schedule handler,
// func(ctx, T) error, as Wrap serves those with an output.
func TestWrapNoOutput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		policy     middleware.HeldPolicy
		held       bool
		handlerErr error
		wantRan    bool
		wantErr    error
	}{
		{"free", middleware.Fail, false, nil, true, nil},
		{"handler error", middleware.Fail, false, errors.New("debit refused"), true, nil},
		{"held, fail", middleware.Fail, true, nil, false, lock.ErrLockAlreadyAcquired},
		{"held, skip", middleware.Skip, true, nil, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tc.held {
				e.hold("42", time.Minute)
			}
			ran := false
			var h func(context.Context, events.EventBridgeEvent) error = must(middleware.WrapNoOutput(e.c, middleware.EventBridgeDetail("accountId"),
				func(ctx context.Context, ev events.EventBridgeEvent) error {
					ran = true
					if l, ok := lock.FromContext(ctx); !ok || l.LockID() != "test/42" {
						return errors.New("no lease on test/42 in ctx")
					}
					return tc.handlerErr
				}, e.opts(middleware.WithOnHeld(tc.policy))...))(t)
			ctx, _ := lambdaCtx(t, "req-1", 10*time.Second)
			err := h(ctx, loadEventBridge(t, "eventbridge-account.json"))
			want := tc.wantErr
			if tc.handlerErr != nil {
				want = tc.handlerErr
			}
			if (want == nil) != (err == nil) || !errors.Is(err, want) {
				t.Errorf("error %v, want %v", err, want)
			}
			if ran != tc.wantRan {
				t.Errorf("handler ran %v, want %v", ran, tc.wantRan)
			}
			if !tc.held {
				e.requireFree("42")
			}
		})
	}
}

// WithMinTimeLeft: an invocation with less time left for its handler than
// that takes no lock, at first or after a wait, and fails with ErrNoTime.
func TestMinTimeLeft(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		holdFor  time.Duration // another process holds the lock; 0: free
		timeout  time.Duration
		min      time.Duration
		wantRan  bool
		wantHeld bool // the error also carries the held lock's
	}{
		{"enough time", 0, 3 * time.Second, time.Second, true, false},
		{"too little time at first", 0, 1500 * time.Millisecond, 2 * time.Second, false, false},
		// The lock frees 2 s in, leaving the handler 2.5 s (the reserve is
		// 500 ms): not enough for 4 s, which is gone 500 ms in.
		{"too little time after a wait", 2 * time.Second, 5 * time.Second, 4 * time.Second, false, true},
		{"enough after a wait", 2 * time.Second, 5 * time.Second, 500 * time.Millisecond, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tc.holdFor > 0 {
				e.hold("job", tc.holdFor)
			}
			e.net.Reset()
			ran := false
			h := must(middleware.Wrap(e.c, middleware.Constant[string]("job"),
				func(ctx context.Context, _ string) (string, error) {
					ran = true
					return "done", nil
				}, e.opts(middleware.WithOnHeld(middleware.Wait), middleware.WithMinTimeLeft(tc.min))...))(t)
			ctx, _ := lambdaCtx(t, "req-1", tc.timeout)
			started := time.Now()
			_, err := h(ctx, "x")
			if ran != tc.wantRan {
				t.Errorf("handler ran %v, want %v (error %v)", ran, tc.wantRan, err)
			}
			if tc.wantRan {
				if err != nil {
					t.Errorf("error %v", err)
				}
				return
			}
			if !errors.Is(err, middleware.ErrNoTime) || errors.Is(err, lock.ErrLockAlreadyAcquired) != tc.wantHeld {
				t.Errorf("error %v, want ErrNoTime (and the held error: %v)", err, tc.wantHeld)
			}
			if tc.holdFor == 0 && e.net.Count("UpdateItem") != 0 {
				t.Errorf("%d lock requests, want none", e.net.Count("UpdateItem"))
			}
			if tc.holdFor > 0 {
				// The wait ended when the time left fell under the minimum,
				// before the lock was free.
				if waited := time.Since(started); waited > tc.holdFor {
					t.Errorf("waited %s, want less than %s", waited, tc.holdFor)
				}
			}
		})
	}
	h, err := middleware.Wrap(newEnv(t).c, middleware.Constant[string]("job"),
		func(ctx context.Context, _ string) (string, error) { return "", nil },
		middleware.WithNamespace("test"), middleware.WithMinTimeLeft(-time.Second))
	if h != nil || !errors.Is(err, lock.ErrInvalidInput) {
		t.Errorf("negative minimum: handler %v, error %v; want none and ErrInvalidInput", h != nil, err)
	}
}
