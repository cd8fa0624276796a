package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// optEvent is one event of TestEveryWrapperHonoursOrRefusesEveryOption,
// whatever the wrapper: its ID (an EventBridge event's or SQS message's
// ID, a request's Idempotency-Key, a stream record's event ID) and its
// lock key ("" for none).
type optEvent struct{ id, key string }

// optOutcome is what became of one optEvent.
type optOutcome struct {
	failed bool   // failed: an error, a record reported, an answer of the middleware's own
	out    string // Wrap's output
}

// optSeen is what the handler saw on one run.
type optSeen struct {
	id       string
	lockID   string    // of the lease in its context; "" for none
	leaseEnd time.Time // the lease's Deadline
	ctxEnd   time.Time // the context's deadline
}

// optDeliver delivers events to a wrapper: in one batch to the batch
// wrappers, one invocation each to the others.
type optDeliver func(ctx context.Context, evs ...optEvent) ([]optOutcome, error)

// optWrapper is one wrapper under test.
type optWrapper struct {
	name string
	kind string // wrap, nooutput, sqs, http or stream: which options it refuses
	// idem returns WithIdempotency of the wrapper's event type, keyed by
	// the event's ID.
	idem func() middleware.Option
	// wrap builds the wrapper of h, which gets the event's ID and returns
	// Wrap's output, over c: its deliveries, or (nil and) the
	// configuration error the wrapper was refused with.
	wrap func(e *env, c *lock.Client, h func(context.Context, string) (string, error), opts []middleware.Option) (optDeliver, error)
}

// oneByOne delivers each event in its own invocation through call.
func oneByOne(call func(context.Context, optEvent) optOutcome) optDeliver {
	return func(ctx context.Context, evs ...optEvent) ([]optOutcome, error) {
		outs := make([]optOutcome, len(evs))
		for i, ev := range evs {
			outs[i] = call(ctx, ev)
		}
		return outs, nil
	}
}

// optDetail is the JSON object {"k": key}, or {} without a key.
func optDetail(key string) string {
	if key == "" {
		return "{}"
	}
	b, _ := json.Marshal(map[string]string{"k": key})
	return string(b)
}

func optEventBridge(ev optEvent) events.EventBridgeEvent {
	return events.EventBridgeEvent{ID: ev.id, Source: "test", DetailType: "Test", Detail: json.RawMessage(optDetail(ev.key))}
}

// failedFrom marks as failed the records from the first whose identifier
// is reported: a stream's records after a failure do not run.
func failedFrom(n int, seq func(i int) string, reported []string) []optOutcome {
	outs := make([]optOutcome, n)
	failing := false
	for i := range outs {
		failing = failing || slices.Contains(reported, seq(i))
		outs[i].failed = failing
	}
	return outs
}

// optHTTP is the optWrapper of WrapHTTP over one kind of trigger: the
// lock key in header x-key, the idempotency key in Idempotency-Key.
func optHTTP[Req, Resp any](name string, api middleware.HTTP[Req, Resp], sample string, setHeaders func(*Req, map[string]string), ok Resp, status func(Resp) int) optWrapper {
	return optWrapper{name: name, kind: "http",
		idem: func() middleware.Option { return middleware.WithIdempotency(api.Header("Idempotency-Key")) },
		wrap: func(e *env, c *lock.Client, h func(context.Context, string) (string, error), opts []middleware.Option) (optDeliver, error) {
			w, err := middleware.WrapHTTP(c, api, api.Header("x-key"), func(ctx context.Context, req Req) (Resp, error) {
				id, _ := middleware.EvalKey(ctx, api.Header("Idempotency-Key"), req)
				_, err := h(ctx, strings.Join(id, ""))
				return ok, err
			}, opts...)
			if w == nil {
				return nil, err
			}
			return oneByOne(func(ctx context.Context, ev optEvent) optOutcome {
				var req Req
				loadEvent(e.t, sample, &req)
				hs := map[string]string{"idempotency-key": ev.id}
				if ev.key != "" {
					hs["x-key"] = ev.key
				}
				setHeaders(&req, hs)
				resp, err := w(ctx, req)
				return optOutcome{failed: err != nil || status(resp) != 200}
			}), err
		}}
}

// optWrappers are every wrapper, each kind of HTTP trigger apart.
func optWrappers() []optWrapper {
	byDetail := middleware.EventBridgeDetail("k")
	return []optWrapper{
		{name: "Wrap", kind: "wrap",
			idem: func() middleware.Option { return middleware.WithIdempotency(middleware.EventBridgeID()) },
			wrap: func(e *env, c *lock.Client, h func(context.Context, string) (string, error), opts []middleware.Option) (optDeliver, error) {
				w, err := middleware.Wrap(c, byDetail, func(ctx context.Context, ev events.EventBridgeEvent) (string, error) { return h(ctx, ev.ID) }, opts...)
				if w == nil {
					return nil, err
				}
				return oneByOne(func(ctx context.Context, ev optEvent) optOutcome {
					out, err := w(ctx, optEventBridge(ev))
					return optOutcome{failed: err != nil, out: out}
				}), err
			}},
		{name: "WrapNoOutput", kind: "nooutput",
			idem: func() middleware.Option { return middleware.WithIdempotency(middleware.EventBridgeID()) },
			wrap: func(e *env, c *lock.Client, h func(context.Context, string) (string, error), opts []middleware.Option) (optDeliver, error) {
				w, err := middleware.WrapNoOutput(c, byDetail, func(ctx context.Context, ev events.EventBridgeEvent) error {
					_, err := h(ctx, ev.ID)
					return err
				}, opts...)
				if w == nil {
					return nil, err
				}
				return oneByOne(func(ctx context.Context, ev optEvent) optOutcome {
					err := w(ctx, optEventBridge(ev))
					return optOutcome{failed: err != nil}
				}), err
			}},
		{name: "WrapSQS", kind: "sqs",
			idem: func() middleware.Option { return middleware.WithIdempotency(middleware.SQSMessageID()) },
			wrap: func(e *env, c *lock.Client, h func(context.Context, string) (string, error), opts []middleware.Option) (optDeliver, error) {
				w, err := middleware.WrapSQS(c, middleware.SQSBody("k"), func(ctx context.Context, m events.SQSMessage) error {
					_, err := h(ctx, m.MessageId)
					return err
				}, opts...)
				if w == nil {
					return nil, err
				}
				return func(ctx context.Context, evs ...optEvent) ([]optOutcome, error) {
					var batch events.SQSEvent
					for _, ev := range evs {
						batch.Records = append(batch.Records, events.SQSMessage{MessageId: ev.id, ReceiptHandle: "rh-" + ev.id, Body: optDetail(ev.key),
							EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:reserve-stock", Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
					}
					resp, err := w(ctx, batch)
					if errors.Is(err, lock.ErrInvalidInput) {
						return nil, err
					}
					outs := make([]optOutcome, len(evs))
					for i, ev := range evs {
						outs[i].failed = slices.Contains(failures(resp), ev.id)
					}
					return outs, nil
				}, err
			}},
		optHTTP("WrapHTTP RESTAPI", middleware.RESTAPI(), "rest-api-transfer.json",
			func(r *events.APIGatewayProxyRequest, h map[string]string) { r.Headers, r.MultiValueHeaders = h, nil },
			events.APIGatewayProxyResponse{StatusCode: 200}, func(r events.APIGatewayProxyResponse) int { return r.StatusCode }),
		optHTTP("WrapHTTP HTTPAPI", middleware.HTTPAPI(), "http-api-transfer.json",
			func(r *events.APIGatewayV2HTTPRequest, h map[string]string) { r.Headers = h },
			events.APIGatewayV2HTTPResponse{StatusCode: 200}, func(r events.APIGatewayV2HTTPResponse) int { return r.StatusCode }),
		optHTTP("WrapHTTP FunctionURL", middleware.FunctionURL(), "function-url-transfer.json",
			func(r *events.LambdaFunctionURLRequest, h map[string]string) { r.Headers = h },
			events.LambdaFunctionURLResponse{StatusCode: 200}, func(r events.LambdaFunctionURLResponse) int { return r.StatusCode }),
		optHTTP("WrapHTTP ALB", middleware.ALB(), "alb-transfer.json",
			func(r *events.ALBTargetGroupRequest, h map[string]string) { r.Headers, r.MultiValueHeaders = h, nil },
			events.ALBTargetGroupResponse{StatusCode: 200}, func(r events.ALBTargetGroupResponse) int { return r.StatusCode }),
		{name: "WrapKinesis", kind: "stream",
			idem: func() middleware.Option { return middleware.WithIdempotency(middleware.KinesisEventID()) },
			wrap: func(e *env, c *lock.Client, h func(context.Context, string) (string, error), opts []middleware.Option) (optDeliver, error) {
				w, err := middleware.WrapKinesis(c, middleware.KinesisPartitionKey(), func(ctx context.Context, r events.KinesisEventRecord) error {
					_, err := h(ctx, r.EventID)
					return err
				}, opts...)
				if w == nil {
					return nil, err
				}
				return func(ctx context.Context, evs ...optEvent) ([]optOutcome, error) {
					var batch events.KinesisEvent
					for i, ev := range evs {
						batch.Records = append(batch.Records, events.KinesisEventRecord{EventID: ev.id,
							Kinesis: events.KinesisRecord{PartitionKey: ev.key, SequenceNumber: fmt.Sprint(101 + i), Data: []byte("{}")}})
					}
					resp, err := w(ctx, batch)
					if err != nil {
						return nil, err
					}
					var reported []string
					for _, f := range resp.BatchItemFailures {
						reported = append(reported, f.ItemIdentifier)
					}
					return failedFrom(len(evs), func(i int) string { return fmt.Sprint(101 + i) }, reported), nil
				}, err
			}},
		{name: "WrapDynamoDBStream", kind: "stream",
			idem: func() middleware.Option { return middleware.WithIdempotency(middleware.DynamoDBEventID()) },
			wrap: func(e *env, c *lock.Client, h func(context.Context, string) (string, error), opts []middleware.Option) (optDeliver, error) {
				w, err := middleware.WrapDynamoDBStream(c, middleware.DynamoDBKeys("Id"), func(ctx context.Context, r events.DynamoDBEventRecord) error {
					_, err := h(ctx, r.EventID)
					return err
				}, opts...)
				if w == nil {
					return nil, err
				}
				return func(ctx context.Context, evs ...optEvent) ([]optOutcome, error) {
					var batch events.DynamoDBEvent
					for i, ev := range evs {
						r := events.DynamoDBEventRecord{EventID: ev.id, EventName: "MODIFY", Change: events.DynamoDBStreamRecord{SequenceNumber: fmt.Sprint(101 + i)}}
						if ev.key != "" {
							r.Change.Keys = map[string]events.DynamoDBAttributeValue{"Id": events.NewStringAttribute(ev.key)}
						}
						batch.Records = append(batch.Records, r)
					}
					resp, err := w(ctx, batch)
					if err != nil {
						return nil, err
					}
					var reported []string
					for _, f := range resp.BatchItemFailures {
						reported = append(reported, f.ItemIdentifier)
					}
					return failedFrom(len(evs), func(i int) string { return fmt.Sprint(101 + i) }, reported), nil
				}, err
			}},
	}
}

// optRun is one wrapper under one option: its environment, its
// deliveries, and what its handler saw.
type optRun struct {
	t       *testing.T
	e       *env
	w       optWrapper
	deliver optDeliver
	sleep   time.Duration // each run of the handler lasts this long
	logs    *syncBuffer   // a logger's of its own, for WithLogger
	metrics *syncBuffer   // WithMetrics's
	q       *sqsServer    // WithVisibilityBackoff's queue

	mu      sync.Mutex // protects seen, running and most
	seen    []optSeen
	running int
	most    int // the most runs at once
}

// handler is the wrapped handler: it notes what it sees and returns
// "out-" + the event's ID.
func (r *optRun) handler(ctx context.Context, id string) (string, error) {
	s := optSeen{id: id}
	if l, ok := lock.FromContext(ctx); ok {
		s.lockID, s.leaseEnd = l.LockID(), l.Deadline()
	}
	s.ctxEnd, _ = ctx.Deadline()
	r.mu.Lock()
	r.seen = append(r.seen, s)
	r.running++
	r.most = max(r.most, r.running)
	r.mu.Unlock()
	time.Sleep(r.sleep)
	r.mu.Lock()
	r.running--
	r.mu.Unlock()
	return "out-" + id, nil
}

// runs returns how often the handler ran for id.
func (r *optRun) runs(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.seen {
		if s.id == id {
			n++
		}
	}
	return n
}

// last returns what the handler saw on its last run for id.
func (r *optRun) last(id string) optSeen {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.seen) - 1; i >= 0; i-- {
		if r.seen[i].id == id {
			return r.seen[i]
		}
	}
	r.t.Fatalf("the handler never ran for %s", id)
	return optSeen{}
}

// send delivers evs in an invocation with timeout (none when 0) and
// returns their outcomes; an error of the batch wrappers other than their
// records' fails the test.
func (r *optRun) send(timeout time.Duration, evs ...optEvent) ([]optOutcome, time.Time) {
	r.t.Helper()
	ctx, deadline := lambdaCtx(r.t, "req-"+evs[0].id, timeout)
	outs, err := r.deliver(ctx, evs...)
	if err != nil {
		r.t.Fatalf("delivery: %v", err)
	}
	return outs, deadline
}

// near reports whether a and b are at most d apart.
func near(a, b time.Time, d time.Duration) bool { return math.Abs(float64(a.Sub(b))) <= float64(d) }

// optCase is one option and what it does.
type optCase struct {
	name string
	// refusedBy lists the kinds of wrapper that must refuse it.
	refusedBy []string
	opts      func(r *optRun) []middleware.Option
	// client is the configuration of the lock client the wrapper is given.
	client lock.Config
	// check shows, on a wrapper that takes it, what it does.
	check func(t *testing.T, r *optRun)
}

var allKinds = []string{"wrap", "nooutput", "sqs", "http", "stream"}

// allBut returns the kinds other than keep.
func allBut(keep ...string) []string {
	return slices.DeleteFunc(slices.Clone(allKinds), func(k string) bool { return slices.Contains(keep, k) })
}

func optCases() []optCase {
	opt := func(o ...middleware.Option) func(*optRun) []middleware.Option {
		return func(*optRun) []middleware.Option { return o }
	}
	ev := optEvent{"e1", "k"}
	return []optCase{
		{name: "WithOnHeld(Fail): a held lock fails the event", opts: opt(middleware.WithOnHeld(middleware.Fail)),
			check: func(t *testing.T, r *optRun) {
				r.e.hold("k", 5*time.Second)
				if outs, _ := r.send(10*time.Second, ev); !outs[0].failed || r.runs("e1") != 0 {
					t.Errorf("held: %+v, %d runs; want failed without running", outs, r.runs("e1"))
				}
			}},
		{name: "WithOnHeld(Skip): a held lock acknowledges the event", refusedBy: []string{"http"}, opts: opt(middleware.WithOnHeld(middleware.Skip)),
			check: func(t *testing.T, r *optRun) {
				r.e.hold("k", 5*time.Second)
				if outs, _ := r.send(10*time.Second, ev); outs[0].failed || r.runs("e1") != 0 {
					t.Errorf("held: %+v, %d runs; want acknowledged without running", outs, r.runs("e1"))
				}
			}},
		{name: "WithOnHeld(Wait): a held lock is waited for", opts: opt(middleware.WithOnHeld(middleware.Wait)),
			check: func(t *testing.T, r *optRun) {
				r.e.hold("k", 400*time.Millisecond)
				if outs, _ := r.send(10*time.Second, ev); outs[0].failed || r.runs("e1") != 1 {
					t.Errorf("held briefly: %+v, %d runs; want run after the wait", outs, r.runs("e1"))
				}
			}},
		{name: "WithPermits: a key with a permit held by another runs beside it", opts: opt(middleware.WithPermits(2)),
			check: func(t *testing.T, r *optRun) {
				c := r.e.otherClient(lock.Config{Owner: "other-process", TTL: 5 * time.Second})
				if _, err := c.Lock(middleware.LockID("test", "k")).Acquire(context.Background(), lock.WithPermits(2)); err != nil {
					t.Fatal(err)
				}
				if outs, _ := r.send(10*time.Second, ev); outs[0].failed || r.runs("e1") != 1 {
					t.Errorf("one of two permits held: %+v, %d runs; want run", outs, r.runs("e1"))
				}
			}},
		{name: "WithNamespace: the lock IDs", opts: opt(middleware.WithNamespace("elsewhere")),
			check: func(t *testing.T, r *optRun) {
				r.e.hold("k", 5*time.Second) // test/k
				if outs, _ := r.send(10*time.Second, ev); outs[0].failed || r.last("e1").lockID != "elsewhere/k" {
					t.Errorf("%+v, lease %q; want run under elsewhere/k", outs, r.last("e1").lockID)
				}
			}},
		{name: "WithConcurrency: records at once", refusedBy: allBut("sqs"), opts: func(r *optRun) []middleware.Option {
			r.sleep = 100 * time.Millisecond
			return []middleware.Option{middleware.WithConcurrency(1)}
		}, check: func(t *testing.T, r *optRun) {
			outs, _ := r.send(10*time.Second, optEvent{"e1", "k1"}, optEvent{"e2", "k2"}, optEvent{"e3", "k3"})
			if slices.ContainsFunc(outs, func(o optOutcome) bool { return o.failed }) || r.most != 1 {
				t.Errorf("%+v, at most %d at once; want all run one at a time", outs, r.most)
			}
		}},
		{name: "WithReserve: the handler's context ends before the deadline", opts: opt(middleware.WithReserve(3 * time.Second)),
			check: func(t *testing.T, r *optRun) {
				_, deadline := r.send(10*time.Second, ev)
				if got := r.last("e1").ctxEnd; !near(got, deadline.Add(-3*time.Second), time.Millisecond) {
					t.Errorf("context ends %s before the deadline, want 3s", deadline.Sub(got))
				}
			}},
		{name: "WithReserve: it bounds the release after the handler", opts: opt(middleware.WithReserve(3 * time.Second)),
			check: func(t *testing.T, r *optRun) {
				// Longer than the default reserve, 500 ms.
				r.e.net.Rule = func(q httpfault.Request) httpfault.Action {
					if reviewIsRelease(q) {
						return httpfault.Action{Delay: time.Second}
					}
					return httpfault.Action{}
				}
				r.send(10*time.Second, ev)
				if len(r.e.logLines("release failed")) != 0 {
					t.Errorf("log:\n%s\nwant the release waited for", r.e.logs)
				}
				r.e.requireFree("k")
			}},
		// No option: the lease follows the deadline by the grace, 1 s.
		{name: "(none): the lease outlasts the deadline by the grace",
			check: func(t *testing.T, r *optRun) {
				_, deadline := r.send(10*time.Second, ev)
				if got := r.last("e1").leaseEnd; !near(got, deadline.Add(time.Second-testSkew), 300*time.Millisecond) {
					t.Errorf("lease ends %s after the deadline (less the tolerance), want 1s", got.Sub(deadline)+testSkew)
				}
			}},
		{name: "WithMinTimeLeft: too little time fails the event", opts: opt(middleware.WithMinTimeLeft(5 * time.Second)),
			check: func(t *testing.T, r *optRun) {
				if outs, _ := r.send(2*time.Second, ev); !outs[0].failed || r.runs("e1") != 0 {
					t.Errorf("2 s left: %+v, %d runs; want failed without running", outs, r.runs("e1"))
				}
			}},
		// No option: the lock client's configuration.
		{name: "(none): the lease without a deadline is the client's TTL", client: lock.Config{TTL: 7 * time.Second},
			check: func(t *testing.T, r *optRun) {
				before := time.Now()
				r.send(0, ev)
				after := time.Now()
				if got := r.last("e1").leaseEnd; got.Before(before.Add(7*time.Second-testSkew)) || got.After(after.Add(7*time.Second)) {
					t.Errorf("lease ends in %s, want 7s", got.Sub(before))
				}
			}},
		{name: "(none): the holder is the client's Owner", client: lock.Config{Owner: "config-owner"},
			check: func(t *testing.T, r *optRun) {
				if r.send(10*time.Second, ev); r.e.record("k").Owner != "config-owner" {
					t.Errorf("owner %q, want config-owner", r.e.record("k").Owner)
				}
			}},
		{name: "WithLogger: where the log goes", opts: func(r *optRun) []middleware.Option {
			r.logs = new(syncBuffer)
			return []middleware.Option{middleware.WithLogger(slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))}
		}, check: func(t *testing.T, r *optRun) {
			r.send(10*time.Second, ev)
			if !strings.Contains(r.logs.String(), "lock acquired") {
				t.Errorf("own log %q, want the acquisition", r.logs)
			}
		}},
		{name: "WithMetrics: one EMF line per invocation", opts: func(r *optRun) []middleware.Option {
			r.metrics = new(syncBuffer)
			return []middleware.Option{middleware.WithMetrics(r.metrics)}
		}, check: func(t *testing.T, r *optRun) {
			r.send(10*time.Second, ev)
			if got := r.metrics.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, `"DynaLock"`) {
				t.Errorf("metrics %q, want one EMF line", got)
			}
		}},
		{name: "WithRunUnkeyed: an event without a key runs", opts: opt(middleware.WithRunUnkeyed()),
			check: func(t *testing.T, r *optRun) {
				if outs, _ := r.send(10*time.Second, optEvent{"e1", ""}); outs[0].failed || r.runs("e1") != 1 || r.last("e1").lockID != "" {
					t.Errorf("no key: %+v, %d runs; want run without a lock", outs, r.runs("e1"))
				}
			}},
		{name: "WithDisabled: no lock", opts: opt(middleware.WithDisabled(true)),
			check: func(t *testing.T, r *optRun) {
				r.e.hold("k", 5*time.Second)
				if outs, _ := r.send(10*time.Second, ev); outs[0].failed || r.last("e1").lockID != "" {
					t.Errorf("held: %+v, lease %q; want run without a lock", outs, r.last("e1").lockID)
				}
			}},
		{name: "WithIdempotency: a duplicate does not run", opts: func(r *optRun) []middleware.Option {
			return []middleware.Option{r.w.idem()}
		}, check: func(t *testing.T, r *optRun) {
			first, _ := r.send(10*time.Second, ev)
			again, _ := r.send(10*time.Second, ev)
			if first[0].failed || again[0].failed || r.runs("e1") != 1 || again[0].out != first[0].out {
				t.Errorf("%+v then %+v, %d runs; want one run, the duplicate answered alike", first, again, r.runs("e1"))
			}
		}},
		{name: "WithIdempotency: an event without an idempotency key fails", opts: func(r *optRun) []middleware.Option {
			return []middleware.Option{r.w.idem()}
		}, check: func(t *testing.T, r *optRun) {
			if outs, _ := r.send(10*time.Second, optEvent{"", "k"}); !outs[0].failed || len(r.seen) != 0 {
				t.Errorf("no idempotency key: %+v, %d runs; want failed without running", outs, len(r.seen))
			}
		}},
		{name: "WithIdempotency of another event type", refusedBy: allKinds, opts: opt(middleware.WithIdempotency(middleware.Constant[int]("x")))},
		{name: "WithVisibilityBackoff: a held record comes back soon", refusedBy: allBut("sqs"), opts: func(r *optRun) []middleware.Option {
			r.q = newSQSServer(r.t)
			return []middleware.Option{middleware.WithVisibilityBackoff(r.q.client())}
		}, check: func(t *testing.T, r *optRun) {
			r.e.hold("k", time.Minute)
			if outs, _ := r.send(10*time.Second, ev); !outs[0].failed || r.q.changes()["rh-e1"] != 1 {
				t.Errorf("held: %+v, visibility changes %v; want failed and back in 1 s", outs, r.q.changes())
			}
		}},
	}
}

// TestEveryWrapperHonoursOrRefusesEveryOption: every wrapper, with every
// Option, either shows what the option does or is refused when it is
// built, with a configuration error and no handler, before any request: no
// option is accepted and then ignored. A few cases without an option show
// what the lock client's configuration and the defaults do in every
// wrapper.
func TestEveryWrapperHonoursOrRefusesEveryOption(t *testing.T) {
	t.Parallel()
	for _, w := range optWrappers() {
		for _, tc := range optCases() {
			t.Run(w.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				r := &optRun{t: t, e: e, w: w}
				var opts []middleware.Option
				if tc.opts != nil {
					opts = tc.opts(r)
				}
				deliver, err := w.wrap(e, e.client(tc.client), r.handler, e.opts(opts...))
				if slices.Contains(tc.refusedBy, w.kind) {
					if deliver != nil || !errors.Is(err, lock.ErrInvalidInput) {
						t.Errorf("handler %v, %v; want none and a configuration error (lock.ErrInvalidInput)", deliver != nil, err)
					}
					if len(r.seen) != 0 || e.net.Total() != 0 {
						t.Errorf("refused, yet the handler ran %d times and %d requests were sent", len(r.seen), e.net.Total())
					}
					return
				}
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				r.deliver = deliver
				tc.check(t, r)
			})
		}
	}
}

// TestOptionCasesCoverEveryOption: every option constructor the package
// exports (a function returning Option) has a case in
// TestEveryWrapperHonoursOrRefusesEveryOption, named after it, so that a
// new option cannot go untested against every wrapper.
func TestOptionCasesCoverEveryOption(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	var options []string
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !fn.Name.IsExported() || fn.Type.Results == nil || len(fn.Type.Results.List) != 1 {
				continue
			}
			if id, ok := fn.Type.Results.List[0].Type.(*ast.Ident); ok && id.Name == "Option" {
				options = append(options, fn.Name.Name)
			}
		}
	}
	if len(options) < 10 {
		t.Fatalf("found only the options %v", options)
	}
	for _, o := range options {
		if !slices.ContainsFunc(optCases(), func(c optCase) bool {
			return strings.HasPrefix(c.name, o+":") || strings.HasPrefix(c.name, o+"(") || strings.HasPrefix(c.name, o+" ")
		}) {
			t.Errorf("option %s has no case in TestEveryWrapperHonoursOrRefusesEveryOption", o)
		}
	}
}
