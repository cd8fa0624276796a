package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/dynalock/dynalock/internal/chaos/history"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/internal/mwopt"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// keyPath is the JMESPath of a synthetic record's lock keys: the SKUs of
// an order's lines, which may repeat.
const keyPath = "lines[].sku"

// sqsHeartbeat is the heartbeat of the lock client of the batches that
// run with one (Config.Heartbeat): the middleware's leases, whose end it
// fixes at the invocation's deadline plus the grace, must not be extended
// past it by it.
const sqsHeartbeat = 30 * time.Millisecond

// errHandler is the error a record's handler returns now and then, so that
// FIFO groups see failures.
var errHandler = errors.New("chaos: the handler failed")

// batch hands a synthetic SQS batch to middleware.WrapSQS, as Lambda's
// poller would, with a Lambda context and a deadline; each record's
// handler is a critical section under the record's locks. Records repeat
// keys within themselves and across the batch; a third of the batches come
// from a FIFO queue with two message groups. It records the batch, the
// middleware's complaints about records, the response and when it came,
// or that it did not come well after the deadline.
func (w *worker) batch(ctx context.Context) {
	c := w.cfg
	w.batches++
	b := w.batches
	fifo := rand.N(3) == 0
	arn := "arn:aws:sqs:us-east-1:123456789012:chaos"
	if fifo {
		arn += ".fifo"
	}
	n := 1 + rand.N(6)
	msgs := make([]events.SQSMessage, n)
	recs := make([]history.Record, n)
	for i := range n {
		keys := make([]string, 1+rand.N(2))
		for j := range keys {
			keys[j] = w.randomLock()
		}
		if rand.N(3) == 0 {
			keys = append(keys, keys[0]) // one order, two lines of one SKU
		}
		type line struct {
			SKU string `json:"sku"`
			Qty int    `json:"qty"`
		}
		lines := make([]line, len(keys))
		for j, k := range keys {
			lines[j] = line{SKU: k, Qty: 1 + j}
		}
		body, _ := json.Marshal(map[string]any{"orderId": fmt.Sprintf("o-%d-%d-%d", c.ID, b, i), "lines": lines})
		m := events.SQSMessage{
			MessageId: fmt.Sprintf("w%d-b%d-m%d", c.ID, b, i), Body: string(body),
			EventSource: "aws:sqs", EventSourceARN: arn, AWSRegion: "us-east-1",
			Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": fmt.Sprint(time.Now().UnixMilli())},
		}
		recs[i] = history.Record{ID: m.MessageId, Keys: keys}
		if fifo {
			g := fmt.Sprintf("g%d", rand.N(2))
			m.Attributes["MessageGroupId"] = g
			recs[i].Group = g
		}
		msgs[i] = m
	}
	timeout := c.SQSTimeoutMin + rand.N(c.SQSTimeoutMax-c.SQSTimeoutMin+1)
	if rand.N(5) == 0 {
		// Little time left when the batch reaches the middleware (the
		// handler did other work first): later records get less time
		// than the lock's tolerance.
		timeout = c.Tolerance + 50*time.Millisecond + rand.N(2*c.Tolerance)
	}
	// The shortest grace is 1 ms: the v0.1 middleware takes its grace from
	// the invocation's context (mwopt), where 0 means its default, 1 s.
	grace := []time.Duration{time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond}[rand.N(3)]
	reserve := 50*time.Millisecond + rand.N(150*time.Millisecond)
	if rand.N(4) == 0 {
		reserve = 20 * time.Millisecond // records may start with less time left than the tolerance
	}
	heartbeat := rand.Float64() < c.HeartbeatRate
	if heartbeat {
		// A lease of at least 300 ms, longer than a 30 ms heartbeat and the
		// tolerance.
		grace, reserve = 200*time.Millisecond, max(reserve, 100*time.Millisecond)
	}
	policies := []middleware.HeldPolicy{middleware.Fail, middleware.Wait, middleware.Skip}
	policy := policies[rand.N(len(policies))]
	logs := &capture{w: w, batch: b, mu: new(sync.Mutex), releases: map[string]error{}}
	opts := []middleware.Option{
		middleware.WithNamespace(""), middleware.WithLogger(slog.New(logs)), middleware.WithOnHeld(policy),
		middleware.WithReserve(reserve),
	}
	client := w.client
	if heartbeat {
		client = w.hbClient
	}
	type ran struct {
		call  int
		lease *lock.Lease
	}
	var mu sync.Mutex
	sections := map[string]ran{}
	h, err := middleware.WrapSQS(client, middleware.SQSBody(keyPath), func(ctx context.Context, m events.SQSMessage) error {
		call := w.newCall()
		lease, _ := lock.FromContext(ctx)
		w.rec.Record(history.Event{Kind: history.KindCall, Call: call, Path: history.PathSQS, Locks: leaseLocks(lease), Batch: b, Msg: m.MessageId, Heartbeat: heartbeat})
		mu.Lock()
		sections[m.MessageId] = ran{call, lease}
		mu.Unlock()
		w.section(ctx, call, history.PathSQS, w.sqsPlan(ctx, heartbeat, grace), sqsInfo{batch: b, msg: m.MessageId})
		if rand.N(20) == 0 {
			return errHandler
		}
		return nil
	}, opts...)
	if err != nil {
		panic(err) // constant options
	}

	deadline := time.Now().Add(timeout)
	lctx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       fmt.Sprintf("chaos-%d-%d", c.ID, b),
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:chaos",
	})
	// The grace and the waiters' steps, which the v0.1 middleware takes
	// from the invocation's context (the proofs' knobs, not a user's).
	lctx = mwopt.NewContext(lctx, mwopt.Settings{Grace: grace,
		LockOptions: []func(*lockopt.Options){lockopt.RetryInterval(c.RetryFirst, c.RetryMax)}})
	dctx, cancel := context.WithDeadline(lctx, deadline)
	defer cancel()
	w.rec.Record(history.Event{
		Kind: history.KindBatch, Batch: b, Deadline: history.Nanos(deadline), Records: recs, FIFO: fifo,
		GraceMs: grace.Milliseconds(), Reserve: reserve.Milliseconds(), Policy: policy.String(), Heartbeat: heartbeat,
	})
	type answer struct {
		resp events.SQSEventResponse
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := h(dctx, events.SQSEvent{Records: msgs})
		done <- answer{resp, err}
	}()
	overdue := time.NewTimer(time.Until(deadline) + c.OverdueAfter)
	defer overdue.Stop()
	select {
	case a := <-done:
		e := history.Event{Kind: history.KindBatchEnd, Batch: b, Result: history.ResultReturned, Failures: []string{}}
		for _, f := range a.resp.BatchItemFailures {
			e.Failures = append(e.Failures, f.ItemIdentifier)
		}
		if a.err != nil {
			e.Err = a.err.Error()
		}
		w.rec.Record(e)
	case <-overdue.C:
		// Lambda would have stopped the invocation long ago; its
		// goroutines are left behind.
		w.rec.Record(history.Event{Kind: history.KindBatchEnd, Batch: b, Result: history.ResultOverdue})
		return
	}
	mu.Lock()
	defer mu.Unlock()
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for msg, r := range sections {
		err := logs.releases[msg]
		ids := leaseLocks(r.lease)
		for _, id := range ids {
			res, detail := releaseResult(id, err, len(ids) == 1)
			w.rec.Record(history.Event{Kind: history.KindDone, Call: r.call, Lock: id, Lease: r.lease.LeaseID(), Result: res, Err: detail})
		}
	}
}

// sqsPlan is what a record's section does: mostly short work, sometimes
// until the handler's context ends; no pause (a frozen sandbox is a
// killed one here) and no Extend of the middleware's lease.
func (w *worker) sqsPlan(ctx context.Context, heartbeat bool, grace time.Duration) plan {
	p := plan{heartbeat: heartbeat}
	if dl, ok := ctx.Deadline(); ok {
		p.ttl = (time.Until(dl) + grace).Truncate(time.Millisecond)
	}
	work := 30 * time.Millisecond
	if rand.N(4) == 0 {
		work = 2 * w.cfg.SQSTimeoutMax // into the context's end
	}
	total := rand.N(work + 1)
	p.before = rand.N(total/2 + 1)
	p.after = total - p.before
	if rand.Float64() < w.cfg.KillRate {
		p.kill = killBeforeWrite + rand.N(2)
	}
	return p
}

// capture is the middleware's logger in a batch: it records every warning
// and error about a record, and keeps the errors of failed releases.
type capture struct {
	w     *worker
	batch int
	attrs []slog.Attr

	mu       *sync.Mutex      // protects releases
	releases map[string]error // message ID → the error of its failed release
}

func (c *capture) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	var (
		msg   string
		err   error
		locks []string
	)
	visit := func(a slog.Attr) bool {
		switch a.Key {
		case "messageId":
			msg = a.Value.String()
		case "error":
			if e, ok := a.Value.Any().(error); ok {
				err = e
			}
		case "lockIds":
			if ids, ok := a.Value.Any().([]string); ok {
				locks = ids
			}
		}
		return true
	}
	for _, a := range c.attrs {
		visit(a)
	}
	r.Attrs(visit)
	e := history.Event{Kind: history.KindRecLog, Batch: c.batch, Msg: msg, Reason: r.Message, Locks: locks}
	if err != nil {
		e.Err = err.Error()
		e.Invalid = errors.Is(err, lock.ErrInvalidInput)
	}
	c.w.rec.Record(e)
	if err != nil && strings.Contains(r.Message, "release") {
		c.mu.Lock()
		c.releases[msg] = err
		c.mu.Unlock()
	}
	return nil
}

func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	d := *c
	d.attrs = append(append([]slog.Attr(nil), c.attrs...), as...)
	return &d
}

func (c *capture) WithGroup(string) slog.Handler { return c }
