package middleware

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/dynalock/dynalock/lock"
)

// verdict is what the end of a record means for its visibility.
type verdict int

const (
	leave    verdict = iota // processed, skipped, or failed for a reason that keeps the visibility timeout
	heldLock                // its lock was held: back off until the lock can be free
	follows                 // FIFO: failed after an earlier record of its group did
)

// fate is one record's verdict, once settled.
type fate struct {
	settled bool
	started bool // its handler was called: it took its locks
	v       verdict
	until   time.Time // heldLock: the holder's lease end plus the clock-skew tolerance
	prev    int       // follows: the record whose delay it shares
}

// backoff sets the visibility of one batch's records per
// WithVisibilityBackoff. Its methods do nothing on a nil *backoff.
type backoff struct {
	b    *backoffOptions
	in   *invocation
	ctx  context.Context // the invocation's
	recs []record

	mu    sync.Mutex // protects fates, left and reads
	fates []fate
	left  int         // records not yet settled
	reads []*capEntry // visibility timeouts this batch started reading
	sent  chan struct{}
}

// newBackoff returns the batch's backoff, or nil when the option is off or
// the batch is empty.
func (in *invocation) newBackoff(ctx context.Context, recs []record) *backoff {
	if in.o.backoff == nil || len(recs) == 0 {
		return nil
	}
	return &backoff{b: in.o.backoff, in: in, ctx: ctx, recs: recs, fates: make([]fate, len(recs)), left: len(recs), sent: make(chan struct{})}
}

// watch returns h, noting for record i when its handler starts (its locks
// are taken: it was not held) and how it ends.
func (bo *backoff) watch(i int, h func(context.Context, events.SQSMessage) error) func(context.Context, events.SQSMessage) error {
	if bo == nil {
		return h
	}
	return func(ctx context.Context, m events.SQSMessage) error {
		bo.mu.Lock()
		bo.fates[i].started = true
		bo.mu.Unlock()
		bo.settle(i, fate{v: leave})
		return h(ctx, m)
	}
}

// finished settles record i, unless its handler did, once its goroutine
// is over (r.failed and r.err are set, r.done is closed).
func (bo *backoff) finished(i int) {
	if bo == nil {
		return
	}
	r := &bo.recs[i]
	bo.mu.Lock()
	started := bo.fates[i].started
	bo.mu.Unlock()
	f := fate{v: leave}
	var held *lock.HeldError
	switch {
	case !r.failed:
	case !started && errors.As(r.err, &held):
		f = fate{v: heldLock, until: held.Holder.ExpiresAt.Add(bo.in.skew)}
	case r.prev >= 0 && isDone(bo.recs[r.prev].done) && bo.recs[r.prev].failed:
		f = fate{v: follows, prev: r.prev}
	}
	bo.settle(i, f)
}

func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// settle records record i's fate unless it is settled; the last record
// settled sends the batch's requests.
func (bo *backoff) settle(i int, f fate) {
	bo.mu.Lock()
	defer bo.mu.Unlock()
	if bo.fates[i].settled {
		return
	}
	f.settled, f.started = true, bo.fates[i].started
	bo.fates[i] = f
	if f.v != leave {
		// Read the queue's attributes now, beside the records still
		// running, if they are not known.
		if url, err := queueURL(bo.recs[i].msg.EventSourceARN); err == nil {
			ctx, cancel := bo.requestContext()
			if e, started := bo.b.caps.start(ctx, bo.b.client, url); started {
				bo.reads = append(bo.reads, e)
				go func() { <-e.done; cancel() }()
			} else {
				cancel()
			}
		}
	}
	if bo.left--; bo.left == 0 {
		go bo.send()
	}
}

// wait returns once the batch's requests are over; at once when the
// backoff is off.
func (bo *backoff) wait() {
	if bo == nil {
		return
	}
	<-bo.sent
	bo.mu.Lock()
	reads := bo.reads
	bo.mu.Unlock()
	for _, e := range reads {
		<-e.done
	}
}

// requestContext returns the context of a visibility request sent now:
// the invocation's, ending the release bound from now or at the releases'
// cut-off (releaseBy, just before the deadline), whichever comes first. A
// request still running at the deadline would make Lambda report a
// timeout and deliver the whole batch again, processed records included;
// one cut off only leaves its records their visibility timeout.
func (bo *backoff) requestContext() (context.Context, context.CancelFunc) {
	end := time.Now().Add(bo.in.releaseBound())
	if !bo.in.deadline.IsZero() {
		if by := bo.in.releaseBy(); by.Before(end) {
			end = by
		}
	}
	return context.WithDeadline(bo.ctx, end)
}

// change is one record's new visibility.
type change struct {
	rec   int
	url   string
	delay time.Duration // whole seconds
}

// send computes the records' delays and sends them, one request per queue
// and maxBatchEntries records, all at once.
func (bo *backoff) send() {
	defer close(bo.sent)
	ctx, cancel := bo.requestContext()
	defer cancel()
	changes, failed := bo.plan(ctx)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // protects done
		done []time.Duration
	)
	byQueue := map[string][]change{}
	var urls []string
	for _, c := range changes {
		if byQueue[c.url] == nil {
			urls = append(urls, c.url)
		}
		byQueue[c.url] = append(byQueue[c.url], c)
	}
	for _, url := range urls {
		cs := byQueue[url]
		for len(cs) > 0 {
			n := min(len(cs), maxBatchEntries)
			part := cs[:n]
			cs = cs[n:]
			wg.Go(func() {
				ok, bad := bo.request(ctx, url, part)
				mu.Lock()
				done = append(done, ok...)
				failed += bad
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	bo.in.stats.backedOff(done, failed)
}

// Sentinel delays of plan.
const (
	keep   = time.Duration(-1) // the record keeps its visibility timeout
	broken = time.Duration(-2) // it needs a change it cannot have
)

// plan returns the changes to make, and the number of records that need
// one but cannot have it (no queue URL, no queue attributes).
func (bo *backoff) plan(ctx context.Context) ([]change, int) {
	bo.mu.Lock()
	fates := append([]fate(nil), bo.fates...)
	bo.mu.Unlock()
	now := time.Now()
	attrs := map[string]queueAttrs{}
	attrErrs := map[string]error{}
	queue := func(url string) (queueAttrs, error) {
		if q, ok := attrs[url]; ok {
			return q, nil
		}
		if err, ok := attrErrs[url]; ok {
			return queueAttrs{}, err
		}
		e, started := bo.b.caps.start(ctx, bo.b.client, url)
		if started {
			bo.mu.Lock()
			bo.reads = append(bo.reads, e)
			bo.mu.Unlock()
		}
		q, err := e.wait(ctx)
		if err != nil {
			attrErrs[url] = err
			return queueAttrs{}, err
		}
		attrs[url] = q
		return q, nil
	}
	delays := make(map[int]time.Duration) // record → its delay, keep or broken
	var resolve func(i int) time.Duration
	resolve = func(i int) time.Duration {
		if d, ok := delays[i]; ok {
			return d
		}
		f := fates[i]
		d := keep
		switch f.v {
		case follows:
			d = resolve(f.prev)
		case heldLock:
			d = bo.delay(i, f, now, queue)
		}
		delays[i] = d
		return d
	}
	var changes []change
	failed := 0
	for i := range fates {
		switch d := resolve(i); d {
		case keep:
		case broken:
			failed++
		default:
			// A follower's own URL: the queue is the same as its head's.
			url, _ := queueURL(bo.recs[i].msg.EventSourceARN)
			changes = append(changes, change{rec: i, url: url, delay: d})
		}
	}
	return changes, failed
}

// delay returns the delay of record i, which failed as f says: keep when
// the queue's own visibility timeout serves as well (the delay would reach
// it, or the record's next receive is its last before the dead-letter
// queue), broken when the queue's URL or attributes are not to be had.
func (bo *backoff) delay(i int, f fate, now time.Time, queue func(string) (queueAttrs, error)) time.Duration {
	m := bo.recs[i].msg
	log := bo.in.log.With("messageId", m.MessageId)
	url, err := queueURL(m.EventSourceARN)
	if err != nil {
		log.Warn("visibility not changed: no queue URL", "error", err)
		return broken
	}
	q, err := queue(url)
	if err != nil {
		log.Warn("visibility not changed: the queue's visibility timeout is unknown", "error", err)
		return broken
	}
	n := receives(m)
	if q.maxReceives > 0 && n >= q.maxReceives-1 {
		// Its next receive is its last: it comes a visibility timeout
		// later, as without the backoff, so that a record whose key stays
		// busy is not dead-lettered within seconds.
		return keep
	}
	d := bo.b.backoff(n)
	if f.v == heldLock {
		d = min(d, ceilSeconds(f.until.Sub(now)))
	}
	vis := min(q.visibility.Truncate(time.Second), maxVisibility)
	if d >= vis {
		return keep // the queue's own timeout brings it back about as soon
	}
	return d
}

// request sends one ChangeMessageVisibilityBatch request and returns the
// delays it set, and the number of records it could not change. Failures
// are logged.
func (bo *backoff) request(ctx context.Context, url string, cs []change) ([]time.Duration, int) {
	in := &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url)}
	byID := make(map[string]change, len(cs))
	for _, c := range cs {
		id := "r" + strconv.Itoa(c.rec)
		byID[id] = c
		in.Entries = append(in.Entries, types.ChangeMessageVisibilityBatchRequestEntry{
			Id:                aws.String(id),
			ReceiptHandle:     aws.String(bo.recs[c.rec].msg.ReceiptHandle),
			VisibilityTimeout: int32(c.delay / time.Second),
		})
	}
	out, err := bo.b.client.ChangeMessageVisibilityBatch(ctx, in)
	if err != nil {
		ids := make([]string, len(cs))
		for i, c := range cs {
			ids[i] = bo.recs[c.rec].msg.MessageId
		}
		bo.in.log.Warn("visibility not changed: the records wait out the visibility timeout", "queueUrl", url, "messageIds", ids, "error", err)
		return nil, len(cs)
	}
	bad := map[string]bool{}
	for _, f := range out.Failed {
		id := aws.ToString(f.Id)
		bad[id] = true
		bo.in.log.Warn("visibility not changed: the record waits out the visibility timeout", "queueUrl", url,
			"messageId", bo.recs[byID[id].rec].msg.MessageId, "code", aws.ToString(f.Code), "error", aws.ToString(f.Message))
	}
	var ok []time.Duration
	for _, e := range in.Entries {
		id := aws.ToString(e.Id)
		if bad[id] {
			continue
		}
		c := byID[id]
		ok = append(ok, c.delay)
		if bo.in.log.Enabled(ctx, slog.LevelDebug) {
			bo.in.log.Debug("visibility set: the record comes back soon", "messageId", bo.recs[c.rec].msg.MessageId, "delay", c.delay.String())
		}
	}
	return ok, len(bad)
}

// backoff returns the jittered delay of a record received n times: whole
// seconds in [c/2, c] rounded up, c being initial × 2^(n-1) up to 12 h,
// and at least one second.
func (b *backoffOptions) backoff(n int) time.Duration {
	c := b.initial
	for i := 1; i < n && c < maxVisibility; i++ {
		c *= 2
	}
	c = min(c, maxVisibility)
	half := c / 2
	jitter := rand.Int64N
	if b.jitter != nil {
		jitter = b.jitter
	}
	d := half + time.Duration(jitter(int64(c-half)+1))
	return max(ceilSeconds(d), time.Second)
}

// ceilSeconds rounds d up to whole seconds, SQS's unit; at least 0.
func ceilSeconds(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

// receives returns the record's ApproximateReceiveCount, 1 when absent.
func receives(m events.SQSMessage) int {
	n, err := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	if err != nil || n < 1 {
		return 1
	}
	return n
}
