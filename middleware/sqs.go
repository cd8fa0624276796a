package middleware

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
)

// WrapSQS returns an SQS batch handler that runs h once per record under
// the locks key derives from it, and reports the records that were not
// processed in the response's BatchItemFailures (enable
// ReportBatchItemFailures on the event source mapping). A record fails when
// its lock is held (policy Fail, or Wait once the wait is over), no key can
// be derived (unless WithRunUnkeyed is given; a key function that panics counts
// as such, with the panic and its stack logged), h returns an error, or the
// invocation runs out of time (ErrNoTime); a record skipped by policy Skip
// is acknowledged.
//
// Records with different keys run concurrently, up to WithConcurrency at
// once; records sharing a key run one after the other in batch order (a
// key given twice for one record is one key). On a FIFO queue (a source
// ARN ending in ".fifo", or records carrying a MessageGroupId) the records
// of one message group also run in batch order, and after a failure every
// later record of that group fails without running; other groups go on. A
// record still waiting for an earlier one or for a free slot at the
// deadline less the reserve fails without running, even if the earlier
// record's handler has not returned.
//
// A failed record comes back when the queue's visibility timeout ends;
// with WithVisibilityBackoff, a record that failed because its lock was
// held comes back soon after the lock can be free.
//
// When every record of a non-empty batch fails, the handler returns the
// response and an error matching errBatchFailed, so that Lambda counts the
// invocation as failed. If h panics, the other records finish, every lock
// is released, and the panic goes on.
func WrapSQS(c *lock.Client, key Key[events.SQSMessage], h func(context.Context, events.SQSMessage) error, opts ...Option) (func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), error) {
	inv := newInvoker(c, key.given(), h != nil, opts)
	inv.refuseInapplicable(kindSQS, "WrapSQS")
	if err := built[events.SQSMessage](inv, "WrapSQS", key.err); err != nil {
		return nil, err
	}
	return func(ctx context.Context, batch events.SQSEvent) (events.SQSEventResponse, error) {
		in := inv.begin(ctx)
		defer in.end()
		return in.batch(ctx, key, h, batch.Records)
	}, nil
}

// record is one SQS record's place in the batch.
type record struct {
	msg    events.SQSMessage
	ids    []string   // lock IDs; none when unkeyed or disabled
	claim  *claimSpec // idempotency claim (WithIdempotency); nil without
	keyErr error      // why no key could be derived, unless WithRunUnkeyed is given
	after  []int      // records that must finish first: same key or group
	prev   int        // the previous record of its FIFO group, or -1
	done   chan struct{}
	failed bool // written before done is closed
	err    error
}

// batch processes records per the rules of WrapSQS.
func (in *invocation) batch(ctx context.Context, key Key[events.SQSMessage], h func(context.Context, events.SQSMessage) error, msgs []events.SQSMessage) (events.SQSEventResponse, error) {
	recs := in.plan(ctx, key, msgs)
	bo := in.newBackoff(ctx, recs) // nil without WithVisibilityBackoff
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// A record waits for earlier ones and for a slot until it could no
	// longer start: an earlier record whose handler ignores its context
	// must not hold the others past the invocation.
	startBy := ctx
	if !in.deadline.IsZero() {
		var stop context.CancelFunc
		startBy, stop = context.WithDeadlineCause(ctx, in.deadline.Add(-in.o.reserve), in.reserveCause)
		defer stop()
	}
	sem := make(chan struct{}, in.o.concurrency)
	var (
		wg        sync.WaitGroup
		panicOnce sync.Once
		panicked  any
	)
	for i := range recs {
		r := &recs[i]
		h := bo.watch(i, h)
		wg.Go(func() {
			defer bo.finished(i) // after done is closed: r's outcome is set
			defer close(r.done)
			defer func() {
				if p := recover(); p != nil {
					r.failed, r.err = true, fmt.Errorf("middleware: handler panicked: %v", p)
					in.log.Error("handler panicked", "messageId", r.msg.MessageId, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					panicOnce.Do(func() { panicked = p })
					cancel(r.err)
				}
			}()
			// Failed unless in.record returns: a handler that ends its
			// goroutine (runtime.Goexit) did not process its record.
			r.failed, r.err = true, errors.New("middleware: the handler did not return (runtime.Goexit)")
			r.failed, r.err = in.record(ctx, startBy, recs, r, sem, h)
		})
	}
	wg.Wait()
	bo.wait() // the visibility requests, sent once every record settled
	if panicked != nil {
		panic(panicked)
	}
	return in.response(recs)
}

// plan derives each record's lock IDs and the records it must wait for.
func (in *invocation) plan(ctx context.Context, key Key[events.SQSMessage], msgs []events.SQSMessage) []record {
	recs := make([]record, len(msgs))
	last := make(map[string]int) // lock ID or FIFO group → latest record
	for i, m := range msgs {
		r := &recs[i]
		*r = record{msg: m, prev: -1, done: make(chan struct{})}
		if !in.o.disabled {
			ids, err := keys(ctx, key, in.o.namespace, m, in.log.With("messageId", m.MessageId))
			switch {
			case err == nil:
				r.ids = ids
			case in.o.runUnkeyed:
				in.log.Warn("no lock key: running record without a lock", "messageId", m.MessageId, "error", err)
			default:
				r.keyErr = err
			}
			if r.claim, err = claimFor(ctx, in.invoker, m, in.log.With("messageId", m.MessageId)); err != nil && r.keyErr == nil {
				r.keyErr = err
			}
		}
		var deps []int
		for _, id := range r.ids {
			if j, ok := last["k\x00"+id]; ok {
				deps = append(deps, j)
			}
			last["k\x00"+id] = i
		}
		if r.claim != nil { // duplicates in one batch: the later is answered
			if j, ok := last["c\x00"+r.claim.id]; ok {
				deps = append(deps, j)
			}
			last["c\x00"+r.claim.id] = i
		}
		if group, ok := fifoGroup(m); ok {
			if j, ok := last["g\x00"+group]; ok {
				r.prev = j
				deps = append(deps, j)
			}
			last["g\x00"+group] = i
		}
		// Only earlier records, each once: a record never waits for itself.
		slices.Sort(deps)
		r.after = slices.Compact(deps)
	}
	return recs
}

// fifoGroup returns the record's message group when it comes from a FIFO
// queue.
func fifoGroup(m events.SQSMessage) (string, bool) {
	group, ok := m.Attributes["MessageGroupId"]
	if ok || strings.HasSuffix(m.EventSourceARN, ".fifo") {
		return group, true
	}
	return "", false
}

// record processes one record once those before it are done and a slot
// is free, giving up on both when startBy ends, and reports whether it
// failed.
func (in *invocation) record(ctx, startBy context.Context, recs []record, r *record, sem chan struct{}, h func(context.Context, events.SQSMessage) error) (bool, error) {
	log := in.log.With("messageId", r.msg.MessageId)
	fail := func(err error, msg string) (bool, error) {
		in.stats.failed()
		log.Warn(msg, "lockIds", r.ids, "error", err)
		return true, err
	}
	for _, j := range r.after {
		select {
		case <-recs[j].done:
		case <-startBy.Done():
			return fail(fmt.Errorf("middleware: gave up waiting for earlier record %q of the same key or group: %w", recs[j].msg.MessageId, context.Cause(startBy)), "record not started")
		}
	}
	if r.prev >= 0 && recs[r.prev].failed {
		return fail(fmt.Errorf("middleware: an earlier record of message group %q failed", r.msg.Attributes["MessageGroupId"]), "record failed: earlier record of its FIFO group failed")
	}
	if r.keyErr != nil {
		return fail(r.keyErr, "no lock key: record failed")
	}
	select {
	case sem <- struct{}{}:
	case <-startBy.Done():
		return fail(fmt.Errorf("middleware: gave up waiting for a free slot (concurrency %d): %w", in.o.concurrency, context.Cause(startBy)), "record not started")
	}
	defer func() { <-sem }()
	out, _, err := in.runEvent(ctx, r.ids, r.claim, log, func(ctx context.Context) error { return h(ctx, r.msg) })
	switch {
	case out == skipped, out == answered:
		return false, nil
	case err != nil && out == ran:
		return fail(err, "handler failed: record failed")
	case err != nil:
		return fail(err, "lock not acquired: record failed")
	}
	return false, nil
}

// response names the failed records in batch order.
func (in *invocation) response(recs []record) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	var errs []error
	for _, r := range recs {
		if r.failed {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.msg.MessageId})
			errs = append(errs, r.err)
		}
	}
	if len(recs) > 0 && len(errs) == len(recs) {
		return resp, fmt.Errorf("%w (%d records); the first: %w", errBatchFailed, len(recs), errs[0])
	}
	return resp, nil
}
