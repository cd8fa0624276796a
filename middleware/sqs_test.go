package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// ran records which messages a handler ran, in the order they started.
type ran struct {
	mu  sync.Mutex // protects ids
	ids []string
}

func (r *ran) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
}

func (r *ran) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

// sorted returns the IDs sorted, for comparisons where order is free.
func sorted(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

// In events/sqs-standard.json, std-msg-1, 3 and 5 reserve BLUE-MUG,
// std-msg-2 RED-MUG and std-msg-4 GREEN-MUG.
func TestSQSHeldLockPerPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		policy   middleware.HeldPolicy
		holdFor  time.Duration // how long another process holds BLUE-MUG
		timeout  time.Duration // the invocation's time
		failures []string
		ran      []string
	}{
		{"fail", middleware.Fail, time.Minute, 10 * time.Second,
			[]string{"std-msg-1", "std-msg-3", "std-msg-5"}, []string{"std-msg-2", "std-msg-4"}},
		{"skip", middleware.Skip, time.Minute, 10 * time.Second,
			[]string{}, []string{"std-msg-2", "std-msg-4"}},
		{"wait for a lease that ends", middleware.Wait, 400 * time.Millisecond, 20 * time.Second,
			[]string{}, []string{"std-msg-1", "std-msg-2", "std-msg-3", "std-msg-4", "std-msg-5"}},
		{"wait past the time left", middleware.Wait, time.Minute, 1500 * time.Millisecond,
			[]string{"std-msg-1", "std-msg-3", "std-msg-5"}, []string{"std-msg-2", "std-msg-4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.hold("BLUE-MUG", tc.holdFor)
			var r ran
			h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"),
				func(ctx context.Context, m events.SQSMessage) error {
					r.add(m.MessageId)
					return nil
				}, e.opts(middleware.WithOnHeld(tc.policy))...))(t)
			ctx, _ := lambdaCtx(t, "req-"+tc.name, tc.timeout)
			resp, err := h(ctx, loadSQS(t, "sqs-standard.json"))
			if err != nil {
				t.Fatal(err)
			}
			if got := failures(resp); !slices.Equal(got, tc.failures) {
				t.Errorf("BatchItemFailures = %v, want %v", got, tc.failures)
			}
			if got := sorted(r.list()); !slices.Equal(got, tc.ran) {
				t.Errorf("handler ran %v, want %v", got, tc.ran)
			}
			e.requireFree("RED-MUG", "GREEN-MUG")
			if tc.policy == middleware.Wait && tc.holdFor < time.Second {
				e.requireFree("BLUE-MUG")
				blue := slices.DeleteFunc(r.list(), func(id string) bool { return id == "std-msg-2" || id == "std-msg-4" })
				if want := []string{"std-msg-1", "std-msg-3", "std-msg-5"}; !slices.Equal(blue, want) {
					t.Errorf("BLUE-MUG records ran in order %v, want %v", blue, want)
				}
			}
			if tc.policy == middleware.Skip && len(e.logLines("skipped")) != 3 {
				t.Errorf("want 3 skip log entries, log:\n%s", e.logs)
			}
		})
	}
}

func TestSQSHandlerErrorsFailTheirRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"),
		func(ctx context.Context, m events.SQSMessage) error {
			if m.MessageId == "std-msg-2" || m.MessageId == "std-msg-3" {
				return errors.New("out of stock")
			}
			return nil
		}, e.opts()...))(t)
	resp, err := h(context.Background(), loadSQS(t, "sqs-standard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failures(resp), []string{"std-msg-2", "std-msg-3"}; !slices.Equal(got, want) {
		t.Errorf("BatchItemFailures = %v, want %v", got, want)
	}
	e.requireFree("BLUE-MUG", "RED-MUG", "GREEN-MUG")
}

func TestSQSBadKeysFailTheirRecords(t *testing.T) {
	t.Parallel()
	batch := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "ok", Body: `{"orderId":"o-1","sku":"BLUE-MUG","quantity":2}`},
		{MessageId: "not-json", Body: `sku=BLUE-MUG`},
		{MessageId: "missing", Body: `{"orderId":"o-2"}`},
		{MessageId: "empty", Body: `{"sku":""}`},
		{MessageId: "null", Body: `{"sku":null}`},
		{MessageId: "object", Body: `{"sku":{"id":"BLUE-MUG"}}`},
		{MessageId: "number", Body: `{"sku":12345}`},
	}}
	t.Run("fail", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		var r ran
		h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"),
			func(ctx context.Context, m events.SQSMessage) error {
				r.add(m.MessageId)
				return nil
			}, e.opts()...))(t)
		resp, err := h(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := failures(resp), []string{"not-json", "missing", "empty", "null", "object"}; !slices.Equal(got, want) {
			t.Errorf("BatchItemFailures = %v, want %v", got, want)
		}
		if got, want := sorted(r.list()), []string{"number", "ok"}; !slices.Equal(got, want) {
			t.Errorf("handler ran %v, want %v", got, want)
		}
		for _, entry := range e.logLines("no lock key") {
			if msg := fmt.Sprint(entry["error"]); !containsAll(msg, `"sku"`, `"`+fmt.Sprint(entry["messageId"])+`"`) {
				t.Errorf("key error %q does not name the expression and the message", msg)
			}
		}
	})
	t.Run("run unkeyed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		var r ran
		h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"),
			func(ctx context.Context, m events.SQSMessage) error {
				if _, ok := lock.FromContext(ctx); !ok && (m.MessageId == "ok" || m.MessageId == "number") {
					return errors.New("keyed record without its lease")
				}
				r.add(m.MessageId)
				return nil
			}, e.opts(middleware.WithRunUnkeyed())...))(t)
		resp, err := h(context.Background(), batch)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("failures %v, error %v", failures(resp), err)
		}
		if len(r.list()) != len(batch.Records) {
			t.Errorf("handler ran %v, want every record", r.list())
		}
		if n := len(e.logLines("running record without a lock")); n != 5 {
			t.Errorf("%d warnings, want 5; log:\n%s", n, e.logs)
		}
	})
}

func TestSQSEveryRecordFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"),
		func(ctx context.Context, m events.SQSMessage) error { return nil }, e.opts()...))(t)
	batch := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m-1", Body: `{"orderId":"o-1"}`},
		{MessageId: "m-2", Body: `{"orderId":"o-2"}`},
	}}
	resp, err := h(context.Background(), batch)
	if !errors.Is(err, middleware.ErrBatchFailed) {
		t.Fatalf("error %v, want ErrBatchFailed", err)
	}
	if !errors.Is(err, middleware.ErrNoKey) || !strings.Contains(err.Error(), `no lock key from "sku" in event "m-1"`) {
		t.Errorf("error %v does not carry the first record's key error", err)
	}
	if got, want := failures(resp), []string{"m-1", "m-2"}; !slices.Equal(got, want) {
		t.Errorf("BatchItemFailures = %v, want %v", got, want)
	}

	resp, err = h(context.Background(), events.SQSEvent{})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("empty batch: failures %v, error %v", failures(resp), err)
	}
}

// In events/sqs-fifo.json, group customer-a holds fifo-msg-1 (BLUE-MUG),
// 3 (GREEN-MUG) and 5 (YELLOW-MUG); group customer-b holds fifo-msg-2
// (RED-MUG) and 4 (BLUE-MUG).
func TestSQSFIFOGroups(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		hold     string // a key another process holds
		failing  string // a message whose handler fails
		opts     []middleware.Option
		failures []string
		ran      []string
	}{
		{name: "all succeed",
			failures: []string{}, ran: []string{"fifo-msg-1", "fifo-msg-2", "fifo-msg-3", "fifo-msg-4", "fifo-msg-5"}},
		{name: "handler error fails the rest of its group", failing: "fifo-msg-3",
			failures: []string{"fifo-msg-3", "fifo-msg-5"}, ran: []string{"fifo-msg-1", "fifo-msg-2", "fifo-msg-3", "fifo-msg-4"}},
		{name: "held lock fails the rest of its group", hold: "RED-MUG",
			failures: []string{"fifo-msg-2", "fifo-msg-4"}, ran: []string{"fifo-msg-1", "fifo-msg-3", "fifo-msg-5"}},
		{name: "skipped record does not fail its group", hold: "RED-MUG", opts: []middleware.Option{middleware.WithOnHeld(middleware.Skip)},
			failures: []string{}, ran: []string{"fifo-msg-1", "fifo-msg-3", "fifo-msg-4", "fifo-msg-5"}},
		{name: "one at a time", failing: "fifo-msg-1", opts: []middleware.Option{middleware.WithConcurrency(1)},
			failures: []string{"fifo-msg-1", "fifo-msg-3", "fifo-msg-5"}, ran: []string{"fifo-msg-1", "fifo-msg-2", "fifo-msg-4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tc.hold != "" {
				e.hold(tc.hold, time.Minute)
			}
			var r ran
			h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"),
				func(ctx context.Context, m events.SQSMessage) error {
					r.add(m.MessageId)
					if m.MessageId == tc.failing {
						return errors.New("handler failed")
					}
					return nil
				}, e.opts(tc.opts...)...))(t)
			resp, err := h(context.Background(), loadSQS(t, "sqs-fifo.json"))
			if err != nil {
				t.Fatal(err)
			}
			if got := failures(resp); !slices.Equal(got, tc.failures) {
				t.Errorf("BatchItemFailures = %v, want %v", got, tc.failures)
			}
			if got := sorted(r.list()); !slices.Equal(got, tc.ran) {
				t.Errorf("handler ran %v, want %v", got, tc.ran)
			}
			// Batch order within each group, and for the shared BLUE-MUG.
			for _, order := range [][]string{
				{"fifo-msg-1", "fifo-msg-3", "fifo-msg-5"},
				{"fifo-msg-2", "fifo-msg-4"},
				{"fifo-msg-1", "fifo-msg-4"},
			} {
				got := slices.DeleteFunc(r.list(), func(id string) bool { return !slices.Contains(order, id) })
				want := slices.DeleteFunc(slices.Clone(order), func(id string) bool { return !slices.Contains(got, id) })
				if !slices.Equal(got, want) {
					t.Errorf("ran %v out of batch order %v", got, order)
				}
			}
		})
	}
}

// A record with a MessageGroupId is ordered by group even when the source
// ARN does not say FIFO.
func TestSQSMessageGroupWithoutFIFOARN(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	batch := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "a1", Body: `{"sku":"A"}`, Attributes: map[string]string{"MessageGroupId": "g"}},
		{MessageId: "b1", Body: `{"sku":"B"}`, Attributes: map[string]string{"MessageGroupId": "g"}},
		{MessageId: "c1", Body: `{"sku":"C"}`},
	}}
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"),
		func(ctx context.Context, m events.SQSMessage) error {
			if m.MessageId == "a1" {
				return errors.New("failed")
			}
			return nil
		}, e.opts()...))(t)
	resp, err := h(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failures(resp), []string{"a1", "b1"}; !slices.Equal(got, want) {
		t.Errorf("BatchItemFailures = %v, want %v", got, want)
	}
}

// Records with different keys run at the same time: the three records
// below meet at a barrier, which they could not if they ran one by one.
// Records of one key never overlap, and the concurrency limit holds.
func TestSQSConcurrency(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{1, 2, 10} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			meet := min(limit, 3) // std-msg-1, 2 and 4 have distinct keys
			var arrived sync.WaitGroup
			arrived.Add(meet)
			var active, peak atomic.Int32
			var blueActive, joined atomic.Int32
			barrier := map[string]bool{"std-msg-1": true, "std-msg-2": true, "std-msg-4": true}
			// No deadline: the lease is the client's TTL.
			h := must(middleware.WrapSQS(e.client(lock.Config{TTL: 30 * time.Second}), middleware.SQSBody("sku"),
				func(ctx context.Context, m events.SQSMessage) error {
					n := active.Add(1)
					defer active.Add(-1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					if bodySKU(t, m) == "BLUE-MUG" {
						if blueActive.Add(1) != 1 {
							t.Errorf("two BLUE-MUG records at once")
						}
						defer blueActive.Add(-1)
					}
					if barrier[m.MessageId] && limit > 1 && int(joined.Add(1)) <= meet {
						// Wait for the others, or give up when the context ends.
						done := make(chan struct{})
						go func() { arrived.Done(); arrived.Wait(); close(done) }()
						select {
						case <-done:
						case <-ctx.Done():
							return fmt.Errorf("records with distinct keys did not run concurrently: %w", ctx.Err())
						}
					}
					return nil
				}, e.opts(middleware.WithConcurrency(limit))...))(t)
			resp, err := h(context.Background(), loadSQS(t, "sqs-standard.json"))
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("failures %v, error %v", failures(resp), err)
			}
			if p := peak.Load(); int(p) > limit || (limit > 1 && int(p) < meet) {
				t.Errorf("peak concurrency %d with limit %d", p, limit)
			}
		})
	}
}

// Several keys per record are taken all or none: a record needing a held
// key fails without keeping the other.
func TestSQSSeveralKeysPerRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.hold("o-3", time.Minute)
	var r ran
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("[sku, orderId]"),
		func(ctx context.Context, m events.SQSMessage) error {
			if l, ok := lock.FromContext(ctx); !ok || len(l.Tokens()) != 2 || l.FencingToken() != 0 {
				t.Errorf("%s: want a lease of 2 lock IDs in ctx", m.MessageId)
			}
			r.add(m.MessageId)
			return nil
		}, e.opts()...))(t)
	resp, err := h(context.Background(), loadSQS(t, "sqs-standard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failures(resp), []string{"std-msg-3"}; !slices.Equal(got, want) {
		t.Errorf("BatchItemFailures = %v, want %v", got, want)
	}
	if got, want := sorted(r.list()), []string{"std-msg-1", "std-msg-2", "std-msg-4", "std-msg-5"}; !slices.Equal(got, want) {
		t.Errorf("handler ran %v, want %v", got, want)
	}
	e.requireFree("BLUE-MUG", "o-1", "o-5")
}

// A panicking record: every lock is released, the other records finish,
// then the panic reaches the caller (the Lambda runtime).
func TestSQSPanic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var r ran
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"),
		func(ctx context.Context, m events.SQSMessage) error {
			if m.MessageId == "std-msg-2" {
				panic("boom")
			}
			r.add(m.MessageId)
			return nil
		}, e.opts()...))(t)
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want the handler's panic", p)
			}
		}()
		_, _ = h(context.Background(), loadSQS(t, "sqs-standard.json"))
		t.Error("no panic")
	}()
	e.requireFree("BLUE-MUG", "RED-MUG", "GREEN-MUG")
	if rec := e.record("RED-MUG"); !rec.Released {
		t.Errorf("RED-MUG's lock not released after the panic: %+v", rec)
	}
}

// The handler sees its lease: lock ID under the namespace and a fencing
// token that grows from record to record of one key.
func TestSQSLeaseInContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var mu sync.Mutex
	tokens := map[string][]int64{}
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"),
		func(ctx context.Context, m events.SQSMessage) error {
			l, ok := lock.FromContext(ctx)
			if !ok {
				return errors.New("no lease in ctx")
			}
			mu.Lock()
			defer mu.Unlock()
			tokens[l.LockID()] = append(tokens[l.LockID()], l.FencingToken())
			return nil
		}, middleware.WithNamespace("sku"), middleware.WithLogger(discardLogger())))(t)
	if _, err := h(context.Background(), loadSQS(t, "sqs-standard.json")); err != nil {
		t.Fatal(err)
	}
	blue := tokens["sku/BLUE-MUG"]
	if len(blue) != 3 || !slices.IsSorted(blue) || blue[0] == blue[1] || blue[1] == blue[2] {
		t.Errorf("BLUE-MUG tokens %v, want 3 increasing", blue)
	}
	if len(tokens["sku/RED-MUG"]) != 1 || len(tokens["sku/GREEN-MUG"]) != 1 {
		t.Errorf("lock IDs %v", tokens)
	}
}

// The namespace is chosen, never taken from the function's name: without
// WithNamespace the wrapper is refused, with a configuration error that
// shows the fix, and sends nothing; WithNamespace("") locks the bare keys.
func TestNamespaceIsExplicit(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "reserve-stock") // not a namespace
	e := newEnv(t)
	var ids []string
	record := func(ctx context.Context) {
		if l, ok := lock.FromContext(ctx); ok {
			for id := range l.Tokens() {
				ids = append(ids, id)
			}
		}
	}
	wrap, werr := middleware.Wrap(e.c, middleware.Constant[string]("BLUE-MUG"),
		func(ctx context.Context, _ string) (string, error) { record(ctx); return "ok", nil },
		middleware.WithLogger(discardLogger()))
	wrapSQS, serr := middleware.WrapSQS(e.c, middleware.Constant[events.SQSMessage]("BLUE-MUG"),
		func(ctx context.Context, _ events.SQSMessage) error { record(ctx); return nil },
		middleware.WithLogger(discardLogger()))
	for name, err := range map[string]error{"Wrap": werr, "WrapSQS": serr} {
		if !errors.Is(err, lock.ErrInvalidInput) || !containsAll(fmt.Sprint(err), "namespace", `WithNamespace("account")`, "same", `WithNamespace("")`) {
			t.Errorf("%s without a namespace: error %v, want ErrInvalidInput showing the fix", name, err)
		}
	}
	if wrap != nil || wrapSQS != nil {
		t.Error("a handler came with the configuration error")
	}
	if n := e.net.Count("UpdateItem"); n != 0 || len(ids) != 0 {
		t.Errorf("%d lock requests, handlers ran under %v", n, ids)
	}

	bare := must(middleware.Wrap(e.c, middleware.Constant[string]("BLUE-MUG"),
		func(ctx context.Context, _ string) (string, error) { record(ctx); return "ok", nil },
		middleware.WithNamespace(""), middleware.WithLogger(discardLogger())))(t)
	if _, err := bare(context.Background(), "x"); err != nil || !slices.Equal(ids, []string{"BLUE-MUG"}) {
		t.Errorf("WithNamespace(\"\"): error %v, lock IDs %v; want the bare key", err, ids)
	}
}

// within fails the test if f does not return within d, so that a wrapper
// that hangs fails the test quickly instead of timing out the binary.
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still running after %s: hung", d)
	}
}

// A key function that yields one key twice for an event locks it once:
// the event does not wait for itself, in Wrap and WrapSQS alike.
func TestRepeatedKeysAreOneKey(t *testing.T) {
	t.Parallel()
	order := events.SQSMessage{MessageId: "order-1",
		Body: `{"orderId":"o-1","lines":[{"sku":"BLUE-MUG","quantity":1},{"sku":"BLUE-MUG","quantity":2}]}`,
		MessageAttributes: map[string]events.SQSMessageAttribute{
			"skus": {DataType: "String.Array", StringListValues: []string{"BLUE-MUG", "BLUE-MUG"}},
		}}
	for _, tc := range []struct {
		name string
		key  middleware.Key[events.SQSMessage]
	}{
		{"body path with one SKU on two lines", middleware.SQSBody("lines[].sku")},
		{"string-list attribute", middleware.JMESPath[events.SQSMessage]("messageAttributes.skus.stringListValues")},
		{"constant", middleware.Constant[events.SQSMessage]("BLUE-MUG", "BLUE-MUG")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			handler := func(ctx context.Context, m events.SQSMessage) error {
				l, ok := lock.FromContext(ctx)
				if !ok || len(l.Tokens()) != 1 || l.LockID() != "test/BLUE-MUG" {
					return fmt.Errorf("lease in ctx: %v, want one on test/BLUE-MUG only", ok && len(l.Tokens()) == 1)
				}
				return nil
			}
			t.Run("WrapSQS", func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				h := must(middleware.WrapSQS(e.c, tc.key, handler, e.opts()...))(t)
				ctx, _ := lambdaCtx(t, "req-1", 5*time.Second)
				within(t, 10*time.Second, func() {
					resp, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{order}})
					if err != nil || len(resp.BatchItemFailures) != 0 {
						t.Errorf("failures %v, error %v", failures(resp), err)
					}
				})
				e.requireFree("BLUE-MUG")
			})
			t.Run("Wrap", func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				h := must(middleware.Wrap(e.c, tc.key, func(ctx context.Context, m events.SQSMessage) (string, error) {
					return "done", handler(ctx, m)
				}, e.opts()...))(t)
				ctx, _ := lambdaCtx(t, "req-1", 5*time.Second)
				within(t, 10*time.Second, func() {
					if out, err := h(ctx, order); err != nil || out != "done" {
						t.Errorf("got %q, %v", out, err)
					}
				})
				if n := e.net.Count("UpdateItem"); n != 2 {
					t.Errorf("%d lock requests, want one acquire and one release", n)
				}
				e.requireFree("BLUE-MUG")
			})
		})
	}
}

// A record waiting for an earlier record of its key, or for a free slot
// under the concurrency limit, gives up at the invocation's deadline less
// the reserve (after which it could not start), failing as not started,
// even while the earlier record's handler (which ignores its context)
// still runs.
func TestSQSWaitsEndWithTheInvocation(t *testing.T) {
	t.Parallel()
	const reserve = 1500 * time.Millisecond // wide, for loaded machines
	for _, tc := range []struct {
		name   string
		second string // the second record's body; the first's SKU is BLUE-MUG
		opts   []middleware.Option
	}{
		{"same key", `{"sku":"BLUE-MUG"}`, nil},
		{"concurrency limit", `{"sku":"RED-MUG"}`, []middleware.Option{middleware.WithConcurrency(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			release := make(chan struct{})
			var blocking atomic.Value // the message whose handler runs first, and blocks
			h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"),
				func(ctx context.Context, m events.SQSMessage) error {
					if blocking.CompareAndSwap(nil, m.MessageId) {
						<-release // a handler that ignores its context
					}
					return nil
				}, e.opts(append(tc.opts, middleware.WithReserve(reserve))...)...))(t)
			batch := events.SQSEvent{Records: []events.SQSMessage{
				{MessageId: "first", Body: `{"sku":"BLUE-MUG"}`},
				{MessageId: "second", Body: tc.second},
			}}
			ctx, deadline := lambdaCtx(t, "req-1", 3*time.Second)
			type result struct {
				resp events.SQSEventResponse
				err  error
			}
			res := make(chan result, 1)
			go func() {
				resp, err := h(ctx, batch)
				res <- result{resp, err}
			}()
			// The other record is given up while the first still runs.
			for start := time.Now(); len(e.logLines("record not started")) == 0; time.Sleep(20 * time.Millisecond) {
				if time.Since(start) > 10*time.Second {
					close(release)
					t.Fatalf("the second record still waits for the first after the invocation's deadline; log:\n%s", e.logs)
				}
			}
			close(release)
			r := <-res
			other := "second"
			if blocking.Load() == "second" {
				other = "first"
			}
			if got := failures(r.resp); !slices.Equal(got, []string{other}) {
				t.Errorf("BatchItemFailures = %v, want [%s]", got, other)
			}
			lines := e.logLines("record not started")
			if len(lines) != 1 || lines[0]["messageId"] != other {
				t.Fatalf("want record %s logged as not started, log:\n%s", other, e.logs)
			}
			if at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(lines[0]["time"])); err != nil || !at.Before(deadline) {
				t.Errorf("gave up at %v (%v), want before the deadline %v: at the deadline less the reserve", at, err, deadline)
			}
		})
	}
}

// A key function that panics on one record fails that record, with the
// panic and its stack in the log; the other records go on.
func TestSQSKeyFunctionPanics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var r ran
	key := middleware.KeyFunc("sku attribute", func(ctx context.Context, m events.SQSMessage) ([]string, error) {
		if m.MessageId == "bad" {
			var attrs map[string]*string
			return []string{*attrs["sku"]}, nil // nil map entry: a nil dereference
		}
		return []string{m.MessageId}, nil
	})
	h := must(middleware.WrapSQS(e.c, key, func(ctx context.Context, m events.SQSMessage) error {
		r.add(m.MessageId)
		return nil
	}, e.opts()...))(t)
	var resp events.SQSEventResponse
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("the batch panicked: %v", p)
			}
		}()
		resp, err = h(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
			{MessageId: "ok-1"}, {MessageId: "bad"}, {MessageId: "ok-2"},
		}})
	}()
	if err != nil {
		t.Fatal(err)
	}
	if got := failures(resp); !slices.Equal(got, []string{"bad"}) {
		t.Errorf("BatchItemFailures = %v, want [bad]", got)
	}
	if got := sorted(r.list()); !slices.Equal(got, []string{"ok-1", "ok-2"}) {
		t.Errorf("handler ran %v, want ok-1 and ok-2", got)
	}
	lines := e.logLines("key function panicked")
	if len(lines) != 1 || lines[0]["messageId"] != "bad" || !strings.Contains(fmt.Sprint(lines[0]["panic"]), "nil pointer") ||
		!strings.Contains(fmt.Sprint(lines[0]["stack"]), "TestSQSKeyFunctionPanics") {
		t.Errorf("want one entry with the panic and the stack, log:\n%s", e.logs)
	}
}

// Without locks the options are still checked: a concurrency of 0 would
// leave every record waiting for a slot.
func TestSQSDisabledMisconfigured(t *testing.T) {
	t.Parallel()
	h, err := middleware.WrapSQS(nil, middleware.Key[events.SQSMessage]{}, func(context.Context, events.SQSMessage) error { return nil },
		middleware.WithDisabled(true), middleware.WithConcurrency(0), middleware.WithLogger(discardLogger()))
	if h != nil || !errors.Is(err, lock.ErrInvalidInput) {
		t.Errorf("handler %v, error %v; want none and ErrInvalidInput", h != nil, err)
	}
	// Disabled, a nil client and the zero Key are fine.
	h = must(middleware.WrapSQS(nil, middleware.Key[events.SQSMessage]{}, func(ctx context.Context, _ events.SQSMessage) error {
		if _, ok := lock.FromContext(ctx); ok {
			return errors.New("a lease while disabled")
		}
		return nil
	}, middleware.WithDisabled(true), middleware.WithLogger(discardLogger())))(t)
	within(t, 10*time.Second, func() {
		if resp, err := h(context.Background(), loadSQS(t, "sqs-standard.json")); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Errorf("disabled: failures %v, error %v", failures(resp), err)
		}
	})
}
