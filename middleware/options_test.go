package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
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
	id            string
	lockID, owner string    // of the lease in its context; "" for none
	leaseEnd      time.Time // the lease's Deadline
	ctxEnd        time.Time // the context's deadline
}

// optDeliver delivers events to a wrapper: in one batch to the batch
// wrappers, one invocation each to the others. It returns a configuration
// error (lock.ErrInvalidInput) instead of outcomes.
type optDeliver func(ctx context.Context, evs ...optEvent) ([]optOutcome, error)

// optWrapper is one wrapper under test.
type optWrapper struct {
	name string
	kind string // wrap, nooutput, sqs, http or stream: which options it refuses
	// idem returns WithIdempotency of the wrapper's event type, keyed by
	// the event's ID.
	idem func(...middleware.IdempotencyOption) middleware.Option
	// wrap wraps h, which gets the event's ID and returns Wrap's output.
	wrap func(e *env, h func(context.Context, string) (string, error), opts []middleware.Option) optDeliver
}

// oneByOne delivers each event in its own invocation through call.
func oneByOne(call func(context.Context, optEvent) (optOutcome, error)) optDeliver {
	return func(ctx context.Context, evs ...optEvent) ([]optOutcome, error) {
		outs := make([]optOutcome, len(evs))
		for i, ev := range evs {
			out, err := call(ctx, ev)
			if errors.Is(err, lock.ErrInvalidInput) {
				return nil, err
			}
			outs[i] = out
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
		idem: func(o ...middleware.IdempotencyOption) middleware.Option {
			return middleware.WithIdempotency(api.Header("Idempotency-Key"), o...)
		},
		wrap: func(e *env, h func(context.Context, string) (string, error), opts []middleware.Option) optDeliver {
			w := middleware.WrapHTTP(e.c, api, api.Header("x-key"), func(ctx context.Context, req Req) (Resp, error) {
				id, _ := api.Header("Idempotency-Key")(ctx, req)
				_, err := h(ctx, strings.Join(id, ""))
				return ok, err
			}, opts...)
			return oneByOne(func(ctx context.Context, ev optEvent) (optOutcome, error) {
				var req Req
				loadEvent(e.t, sample, &req)
				hs := map[string]string{"idempotency-key": ev.id}
				if ev.key != "" {
					hs["x-key"] = ev.key
				}
				setHeaders(&req, hs)
				resp, err := w(ctx, req)
				return optOutcome{failed: err != nil || status(resp) != 200}, err
			})
		}}
}

// optWrappers are every wrapper, each kind of HTTP trigger apart.
func optWrappers() []optWrapper {
	byDetail := must(middleware.EventBridgeDetailPath("k"))
	return []optWrapper{
		{name: "Wrap", kind: "wrap",
			idem: func(o ...middleware.IdempotencyOption) middleware.Option {
				return middleware.WithIdempotency(middleware.EventBridgeID(), o...)
			},
			wrap: func(e *env, h func(context.Context, string) (string, error), opts []middleware.Option) optDeliver {
				w := middleware.Wrap(e.c, byDetail, func(ctx context.Context, ev events.EventBridgeEvent) (string, error) { return h(ctx, ev.ID) }, opts...)
				return oneByOne(func(ctx context.Context, ev optEvent) (optOutcome, error) {
					out, err := w(ctx, optEventBridge(ev))
					return optOutcome{failed: err != nil, out: out}, err
				})
			}},
		{name: "WrapNoOutput", kind: "nooutput",
			idem: func(o ...middleware.IdempotencyOption) middleware.Option {
				return middleware.WithIdempotency(middleware.EventBridgeID(), o...)
			},
			wrap: func(e *env, h func(context.Context, string) (string, error), opts []middleware.Option) optDeliver {
				w := middleware.WrapNoOutput(e.c, byDetail, func(ctx context.Context, ev events.EventBridgeEvent) error {
					_, err := h(ctx, ev.ID)
					return err
				}, opts...)
				return oneByOne(func(ctx context.Context, ev optEvent) (optOutcome, error) {
					err := w(ctx, optEventBridge(ev))
					return optOutcome{failed: err != nil}, err
				})
			}},
		{name: "WrapSQS", kind: "sqs",
			idem: func(o ...middleware.IdempotencyOption) middleware.Option {
				return middleware.WithIdempotency(middleware.SQSMessageID(), o...)
			},
			wrap: func(e *env, h func(context.Context, string) (string, error), opts []middleware.Option) optDeliver {
				w := middleware.WrapSQS(e.c, must(middleware.SQSBodyPath("k")), func(ctx context.Context, m events.SQSMessage) error {
					_, err := h(ctx, m.MessageId)
					return err
				}, opts...)
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
				}
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
			idem: func(o ...middleware.IdempotencyOption) middleware.Option {
				return middleware.WithIdempotency(middleware.KinesisEventID(), o...)
			},
			wrap: func(e *env, h func(context.Context, string) (string, error), opts []middleware.Option) optDeliver {
				w := middleware.WrapKinesis(e.c, middleware.KinesisPartitionKey(), func(ctx context.Context, r events.KinesisEventRecord) error {
					_, err := h(ctx, r.EventID)
					return err
				}, opts...)
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
				}
			}},
		{name: "WrapDynamoDBStream", kind: "stream",
			idem: func(o ...middleware.IdempotencyOption) middleware.Option {
				return middleware.WithIdempotency(middleware.DynamoDBEventID(), o...)
			},
			wrap: func(e *env, h func(context.Context, string) (string, error), opts []middleware.Option) optDeliver {
				w := middleware.WrapDynamoDBStream(e.c, middleware.DynamoDBKeys("Id"), func(ctx context.Context, r events.DynamoDBEventRecord) error {
					_, err := h(ctx, r.EventID)
					return err
				}, opts...)
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
				}
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
		s.lockID, s.owner, s.leaseEnd = l.LockID(), l.Owner(), l.Deadline()
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
// returns their outcomes; a configuration error fails the test.
func (r *optRun) send(timeout time.Duration, evs ...optEvent) ([]optOutcome, time.Time) {
	r.t.Helper()
	ctx, deadline := lambdaCtx(r.t, "req-"+evs[0].id, timeout)
	outs, err := r.deliver(ctx, evs...)
	if err != nil {
		r.t.Fatalf("configuration error: %v", err)
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
		{name: "OnHeld(Fail): a held lock fails the event", opts: opt(middleware.OnHeld(middleware.Fail)),
			check: func(t *testing.T, r *optRun) {
				r.e.hold("k", 5*time.Second)
				if outs, _ := r.send(10*time.Second, ev); !outs[0].failed || r.runs("e1") != 0 {
					t.Errorf("held: %+v, %d runs; want failed without running", outs, r.runs("e1"))
				}
			}},
		{name: "OnHeld(Skip): a held lock acknowledges the event", refusedBy: []string{"http"}, opts: opt(middleware.OnHeld(middleware.Skip)),
			check: func(t *testing.T, r *optRun) {
				r.e.hold("k", 5*time.Second)
				if outs, _ := r.send(10*time.Second, ev); outs[0].failed || r.runs("e1") != 0 {
					t.Errorf("held: %+v, %d runs; want acknowledged without running", outs, r.runs("e1"))
				}
			}},
		{name: "OnHeld(Wait): a held lock is waited for", opts: opt(middleware.OnHeld(middleware.Wait)),
			check: func(t *testing.T, r *optRun) {
				r.e.hold("k", 400*time.Millisecond)
				if outs, _ := r.send(10*time.Second, ev); outs[0].failed || r.runs("e1") != 1 {
					t.Errorf("held briefly: %+v, %d runs; want run after the wait", outs, r.runs("e1"))
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
		{name: "WithGrace: the lease outlasts the deadline", opts: opt(middleware.WithGrace(3 * time.Second)),
			check: func(t *testing.T, r *optRun) {
				_, deadline := r.send(10*time.Second, ev)
				if got := r.last("e1").leaseEnd; !near(got, deadline.Add(3*time.Second-testSkew), 300*time.Millisecond) {
					t.Errorf("lease ends %s after the deadline (less the tolerance), want 3s", got.Sub(deadline)+testSkew)
				}
			}},
		{name: "WithMinTimeLeft: too little time fails the event", opts: opt(middleware.WithMinTimeLeft(5 * time.Second)),
			check: func(t *testing.T, r *optRun) {
				if outs, _ := r.send(2*time.Second, ev); !outs[0].failed || r.runs("e1") != 0 {
					t.Errorf("2 s left: %+v, %d runs; want failed without running", outs, r.runs("e1"))
				}
			}},
		{name: "WithTTL: the lease without a deadline", opts: opt(middleware.WithTTL(7 * time.Second)),
			check: func(t *testing.T, r *optRun) {
				before := time.Now()
				r.send(0, ev)
				after := time.Now()
				if got := r.last("e1").leaseEnd; got.Before(before.Add(7*time.Second-testSkew)) || got.After(after.Add(7*time.Second)) {
					t.Errorf("lease ends in %s, want 7s", got.Sub(before))
				}
			}},
		{name: "WithReleaseTimeout: a slow release is waited for", opts: opt(middleware.WithReleaseTimeout(5 * time.Second)),
			check: func(t *testing.T, r *optRun) {
				// Longer than the default timeout, DefaultReleaseTimeout.
				r.e.net.Rule = func(q httpfault.Request) httpfault.Action {
					if reviewIsRelease(q) {
						return httpfault.Action{Delay: 2 * middleware.DefaultReleaseTimeout}
					}
					return httpfault.Action{}
				}
				r.send(0, ev)
				if len(r.e.logLines("release failed")) != 0 {
					t.Errorf("log:\n%s\nwant the release waited for", r.e.logs)
				}
				r.e.requireFree("k")
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
		{name: "RunUnkeyed: an event without a key runs", opts: opt(middleware.RunUnkeyed()),
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
		{name: "WithLockOptions: the acquire's options", opts: opt(middleware.WithLockOptions(lock.WithOwner("option-owner"))),
			check: func(t *testing.T, r *optRun) {
				if r.send(10*time.Second, ev); r.last("e1").owner != "option-owner" {
					t.Errorf("owner %q, want option-owner", r.last("e1").owner)
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
		{name: "WithIdempotency, WithoutResults: a duplicate gets the zero output", refusedBy: allBut("wrap"), opts: func(r *optRun) []middleware.Option {
			return []middleware.Option{r.w.idem(middleware.WithoutResults())}
		}, check: func(t *testing.T, r *optRun) {
			first, _ := r.send(10*time.Second, ev)
			again, _ := r.send(10*time.Second, ev)
			if first[0].out != "out-e1" || again[0].failed || again[0].out != "" || r.runs("e1") != 1 {
				t.Errorf("%+v then %+v, %d runs; want one run, the duplicate answered with no output", first, again, r.runs("e1"))
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
// Option, either shows what the option does or returns a configuration
// error from its first call (and every later one) without running its
// handler: no option is accepted and then ignored.
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
				r.deliver = w.wrap(e, r.handler, e.opts(opts...))
				if slices.Contains(tc.refusedBy, w.kind) {
					for i := range 2 {
						ctx, _ := lambdaCtx(t, "req", 10*time.Second)
						if _, err := r.deliver(ctx, optEvent{"e1", "k"}); !errors.Is(err, lock.ErrInvalidInput) {
							t.Errorf("call %d: %v, want a configuration error (lock.ErrInvalidInput)", i+1, err)
						}
					}
					if len(r.seen) != 0 || e.net.Total() != 0 {
						t.Errorf("refused, yet the handler ran %d times and %d requests were sent", len(r.seen), e.net.Total())
					}
					return
				}
				tc.check(t, r)
			})
		}
	}
}
