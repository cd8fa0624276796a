package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/internal/mwopt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/dynalock/dynalock/lock"
)

// invoker holds what a wrapper (Wrap, WrapNoOutput, WrapSQS, WrapHTTP,
// WrapKinesis, WrapDynamoDBStream) shares between invocations: the lock
// client, the options and the metrics writer. It has no other state, so
// one process may serve several invocations at once.
type invoker struct {
	c       *lock.Client
	o       options
	metrics *emf
	err     error // configuration error, returned by every invocation
	// reserveCause is the cause of a handler's context ending at the
	// deadline less the reserve.
	reserveCause error
	// skew is the clock-skew tolerance of the middleware's acquires, with
	// the lock client: a lease's TTL must be at least twice it.
	skew time.Duration
}

func newInvoker(c *lock.Client, hasKey, hasHandler bool, opts []Option) *invoker {
	inv := &invoker{c: c, o: newOptions(opts)}
	inv.metrics = newEMF(inv.o.metrics)
	inv.reserveCause = fmt.Errorf("middleware: the invocation's deadline less the reserve %s: %w", inv.o.reserve, context.DeadlineExceeded)
	switch {
	case !hasHandler:
		inv.err = fmt.Errorf("%w: nil handler", lock.ErrInvalidInput)
	case c == nil && !inv.o.disabled:
		inv.err = fmt.Errorf("%w: nil lock client (use WithDisabled to run without locks)", lock.ErrInvalidInput)
	case !hasKey && !inv.o.disabled:
		inv.err = fmt.Errorf("%w: no key: pass a Key (SQSBody, JMESPath, KeyFunc…), not its zero value", lock.ErrInvalidInput)
	default:
		// Also when disabled: a concurrency of 0 would hang a batch.
		inv.err = inv.o.validate()
	}
	if inv.err == nil && !inv.o.disabled {
		inv.skew = c.Config().ClockSkewTolerance
	}
	return inv
}

// invocation is one call of a wrapped handler.
type invocation struct {
	*invoker
	log   *slog.Logger
	stats *stats
	// deadline is the invocation's deadline; zero when it has none.
	deadline time.Time
	// grace is how long a lease outlasts the deadline (defaultGrace,
	// unless the module's proofs set another in the context: mwopt).
	grace time.Duration
	// lockOpts are lock options of every acquire (mwopt), before the
	// middleware's own.
	lockOpts []lock.Option
	// own holds the lease IDs this invocation took, as keys.
	own sync.Map
}

func (inv *invoker) begin(ctx context.Context) *invocation {
	in := &invocation{invoker: inv, log: inv.o.logger, grace: defaultGrace}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		in.log = in.log.With("requestId", lc.AwsRequestID)
	}
	if s, ok := mwopt.FromContext(ctx); ok {
		if s.Grace > 0 {
			// Bounded as the reserve is: past a day, the sums with the
			// deadline could overflow into a lease of no time at all.
			in.grace = min(s.Grace, maxSpan)
		}
		for _, o := range s.LockOptions {
			in.lockOpts = append(in.lockOpts, o)
		}
	}
	if inv.metrics != nil {
		in.stats = new(stats)
	}
	in.deadline, _ = ctx.Deadline()
	return in
}

func (in *invocation) end() { in.metrics.flush(in.stats) }

// workContext returns the context the handler runs under: ctx ending the
// reserve before the invocation's deadline. It fails with ErrNoTime when
// that moment has passed.
func (in *invocation) workContext(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if in.deadline.IsZero() {
		ctx, cancel := context.WithCancel(ctx)
		return ctx, cancel, nil
	}
	work := in.deadline.Add(-in.o.reserve)
	if !time.Now().Before(work) {
		return nil, nil, ErrNoTime
	}
	ctx, cancel := context.WithDeadlineCause(ctx, work, in.reserveCause)
	return ctx, cancel, nil
}

// lockOptions returns the options of an acquire attempted now, waiting at
// most wait: the lease lasts until the deadline plus the grace (or the
// client's TTL without a deadline), and the clean-up of an acquire cut off
// ends by the releases' cut-off. It fails with ErrNoTime when that lease
// would be shorter than the lock accepts (twice the clock-skew tolerance):
// it could give the handler no useful time.
func (in *invocation) lockOptions(wait time.Duration) ([]lock.Option, error) {
	opts := slices.Clone(in.lockOpts)
	if in.deadline.IsZero() {
		opts = append(opts, lockopt.ReleaseTimeout(localReleaseTimeout))
		return append(opts, lock.WithWait(wait)), nil
	}
	ttl := ceilMillis(time.Until(in.deadline) + in.grace)
	if ttl < in.minTTL() {
		return nil, fmt.Errorf("%w: a lease until the deadline plus the grace %s would last %s, less than %s, twice the clock-skew tolerance %s",
			ErrNoTime, in.grace, max(ttl, 0), in.minTTL(), in.skew)
	}
	if left := time.Until(in.handlerEnd()); in.o.minTimeLeft > 0 && left < in.o.minTimeLeft {
		return nil, fmt.Errorf("%w: the handler would have %s, less than the least time left worth taking the lock with (WithMinTimeLeft) %s",
			ErrNoTime, max(left, 0).Round(time.Millisecond), in.o.minTimeLeft)
	}
	return append(opts,
		// Every attempt, a waiter's too, sizes its lease to end at the
		// deadline plus the grace, however late in a wait it gets in, and
		// nothing extends it past that: the lock of an invocation Lambda
		// stopped frees itself then (a lease with a fixed end has no
		// heartbeat).
		lock.WithLeaseEnd(in.deadline.Add(in.grace)),
		// A clean-up may take the release bound, but must end before the
		// deadline.
		lockopt.ReleaseTimeout(in.releaseBound()),
		lockopt.ReleaseBy(in.releaseBy()),
		lock.WithWait(wait)), nil
}

// releaseBy is when the releases after the handler, and the clean-ups of
// acquires cut off, must have ended: just before the deadline, leaving the
// runtime a moment to send the result.
func (in *invocation) releaseBy() time.Time {
	return in.deadline.Add(-min(in.o.reserve/2, 50*time.Millisecond))
}

// noTime turns an acquire that the deadline less the reserve cut off, or
// that the lock refused for too short a lease, into ErrNoTime.
func (in *invocation) noTime(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, lock.ErrLockAlreadyAcquired) || errors.Is(err, ErrNoTime) {
		return err
	}
	if errors.Is(err, lockopt.ErrLeaseTooShort) || (ctx.Err() != nil && context.Cause(ctx) == in.reserveCause) {
		return fmt.Errorf("%w: %w", ErrNoTime, err)
	}
	return err
}

// ownLease reports an error whose lock is held by a lease this invocation
// took (an earlier record of its batch whose release has not gone through):
// that record is not handled elsewhere, so the policy (Skip, Wait) must not
// apply; it fails as not acquired.
func (in *invocation) ownLease(err error) error {
	var held *lock.HeldError
	if errors.As(err, &held) {
		if _, ok := in.own.Load(held.Holder.LeaseID); ok {
			return fmt.Errorf("%w: %q is held by an earlier record of this batch whose release has not gone through (until %s)",
				lock.ErrLockAcquisition, held.LockID, held.Holder.ExpiresAt.UTC().Format(time.RFC3339Nano))
		}
	}
	return err
}

// minTTL is the shortest lease the lock grants, twice the clock-skew
// tolerance, so that the holder has time to work in: its context ends the
// tolerance before the lease does.
func (in *invocation) minTTL() time.Duration { return max(2*in.skew, time.Millisecond) }

// handlerEnd returns when the context of a handler whose lease is taken
// now would end: the reserve before the deadline, or the lease's deadline
// (its end, the grace after the deadline, less the clock-skew tolerance)
// if that comes first. It needs a deadline.
func (in *invocation) handlerEnd() time.Time {
	return in.deadline.Add(min(-in.o.reserve, in.grace-in.skew))
}

// lastUseful returns the last moment at which taking a lock is still
// worth it: after it, a lease until the deadline plus the grace would be
// shorter than minTTL, or the handler would have less than WithMinTimeLeft.
// It is the zero time without a deadline.
func (in *invocation) lastUseful() time.Time {
	if in.deadline.IsZero() {
		return time.Time{}
	}
	last := in.deadline.Add(in.grace - in.minTTL())
	if t := in.handlerEnd().Add(-in.o.minTimeLeft); t.Before(last) {
		last = t
	}
	return last
}

func ceilMillis(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// outcome is what became of one event.
type outcome int

const (
	ran      outcome = iota // the handler ran (its error is returned beside)
	skipped                 // the lock was held and the policy is Skip
	refused                 // the handler did not run: lock held, no key, no time, DynamoDB failed
	answered                // a duplicate of a completed event (WithIdempotency): the handler did not run
)

// runEvent runs fn for one event under the locks ids (without a lock when
// ids is empty) and, when cl is not nil, the event's idempotency claim, on
// a context that ends the reserve before the deadline. A duplicate of a
// completed event is answered: fn does not run, and the completion comes
// back.
func (in *invocation) runEvent(ctx context.Context, ids []string, cl *claimSpec, log *slog.Logger, fn func(context.Context) error) (outcome, *completion, error) {
	work, cancel, err := in.workContext(ctx)
	if err != nil {
		return refused, nil, err
	}
	defer cancel()
	if len(ids) == 0 && cl == nil {
		return ran, nil, fn(work)
	}
	t, err := in.acquire(work, ids, cl, log)
	if err != nil {
		if errors.Is(err, lock.ErrLockAlreadyAcquired) && in.o.held == Skip {
			in.stats.skip()
			log.Info("lock held: event skipped", "lockIds", ids, "error", err)
			return skipped, nil, nil
		}
		return refused, nil, err
	}
	if t.done != nil {
		in.stats.duplicate()
		log.Info("duplicate of a completed event: answered from the store", "claimId", cl.id,
			"completedAt", t.done.completedAt, "resultBytes", len(t.done.result))
		return answered, t.done, nil
	}
	if t.claim != nil {
		return ran, nil, in.runClaimed(work, t, cl, ids, log, fn)
	}
	return ran, nil, in.runLeases(work, t.lease, ids, log, fn)
}

// runLeases runs fn under lease, on a context that carries it
// (lock.FromContext) and ends at its deadline, and releases it when fn
// returns or panics (the release comes first, then the panic goes on),
// logging a failed release. It returns fn's error.
func (in *invocation) runLeases(work context.Context, lease *lock.Lease, ids []string, log *slog.Logger, fn func(context.Context) error) error {
	defer func() {
		rctx, cancel := in.cleanupContext(work)
		defer cancel()
		if err := lease.Release(rctx); err != nil {
			in.releaseFailed(work, ids, log, err)
		}
	}()
	return in.underLease(work, lease, fn)
}

// underLease runs fn on a context that carries lease and ends at its
// deadline (its end less the clock-skew tolerance) if that comes before
// work's.
func (in *invocation) underLease(work context.Context, lease *lock.Lease, fn func(context.Context) error) error {
	ctx, stop := context.WithDeadlineCause(work, lease.Deadline(),
		fmt.Errorf("middleware: the lease ends (less the clock-skew tolerance): %w", context.DeadlineExceeded))
	defer stop()
	return fn(lock.NewContext(ctx, lease))
}

// releaseFailed logs and counts a release that did not go through: the
// lease ends by itself.
func (in *invocation) releaseFailed(ctx context.Context, ids []string, log *slog.Logger, err error) {
	in.stats.releaseFailure()
	level := slog.LevelWarn
	if errors.Is(err, lock.ErrLockLost) {
		level = slog.LevelError
	}
	log.Log(ctx, level, "lock release failed", "lockIds", ids, "error", err)
}

// acquire takes the locks ids and, with cl, the claim, all or none, as the
// policy says.
func (in *invocation) acquire(ctx context.Context, ids []string, cl *claimSpec, log *slog.Logger) (taken, error) {
	started := time.Now()
	opts, err := in.lockOptions(0)
	if err != nil {
		return taken{}, err
	}
	t, err := in.attempt(ctx, ids, cl, opts, 0, nil)
	err = in.noTime(ctx, in.ownLease(err))
	if errors.Is(err, lock.ErrLockAlreadyAcquired) {
		in.stats.contention()
		msg := "lock held"
		if cl != nil && claimHeld(err, cl) {
			msg = "duplicate in progress: its claim is held"
		}
		log.Info(msg, "lockIds", ids, "policy", in.o.held.String(), "error", err)
		if in.o.held == Wait {
			t, err = in.wait(ctx, ids, cl, log, err)
		}
	}
	if err != nil {
		return taken{}, err
	}
	if t.lease != nil {
		in.own.Store(t.lease.LeaseID(), struct{}{})
	}
	in.stats.acquired(time.Since(started))
	if log.Enabled(ctx, slog.LevelDebug) && t.lease != nil {
		log.Debug("lock acquired", "lockIds", ids, "fencingTokens", t.lease.Tokens(), "latency", time.Since(started))
	}
	return t, nil
}

// wait keeps trying the locks, which held says are held, until they are
// free, ctx ends or a lease could no longer give the handler time. With a
// deadline it tries in slices, computing each slice's lease from the
// deadline afresh, so a lease taken late still ends the grace after it.
// When time runs out it returns an error matching ErrNoTime and the last
// held error.
func (in *invocation) wait(ctx context.Context, ids []string, cl *claimSpec, log *slog.Logger, held error) (taken, error) {
	started := time.Now()
	log.Info("waiting for lock", "lockIds", ids)
	for {
		slice := lock.WaitForever
		if !in.deadline.IsZero() {
			slice = min(waitSlice, time.Until(in.lastUseful()).Truncate(time.Millisecond))
		}
		opts, err := in.lockOptions(slice)
		if err == nil && slice <= 0 {
			err = ErrNoTime // the slice would be a last single attempt at the limit
		}
		if err != nil {
			return taken{}, fmt.Errorf("middleware: gave up waiting after %s: %w: %w", time.Since(started).Round(time.Millisecond), err, held)
		}
		t, err := in.attempt(ctx, ids, cl, opts, slice, held)
		if err = in.ownLease(err); errors.Is(err, lockopt.ErrLeaseTooShort) {
			// The held answer is from an earlier attempt; its HeldError's At
			// says when the lock was found held.
			return taken{}, fmt.Errorf("middleware: gave up waiting after %s: %w: %w", time.Since(started).Round(time.Millisecond), ErrNoTime, held)
		}
		if err == nil {
			log.Info("lock acquired after waiting", "lockIds", ids, "waited", time.Since(started).String())
			return t, nil
		}
		outOfTime := ctx.Err() != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded)
		switch {
		case errors.Is(err, lock.ErrLockAlreadyAcquired) && outOfTime:
			return taken{}, fmt.Errorf("middleware: gave up waiting after %s: %w: %w", time.Since(started).Round(time.Millisecond), ErrNoTime, err)
		case errors.Is(err, lock.ErrLockAlreadyAcquired) && ctx.Err() != nil:
			return taken{}, fmt.Errorf("middleware: gave up waiting after %s: %w", time.Since(started).Round(time.Millisecond), err)
		case outOfTime:
			// The time ran out during an attempt, which the lock reports
			// as an acquisition failure since it cannot tell whether the
			// lock was still held: the wait is over for want of time, and
			// the last answer was that the lock is held.
			return taken{}, fmt.Errorf("middleware: gave up waiting after %s: %w: %w (the last attempt was cut off: %v)",
				time.Since(started).Round(time.Millisecond), ErrNoTime, held, err)
		case !errors.Is(err, lock.ErrLockAlreadyAcquired):
			return taken{}, err
		}
		held = err
	}
}

// keys derives the lock IDs of event, or a *keyErr naming its ID. A
// panic of key is such an error too, logged to log with its stack: a bug
// in one event's key must fail that event, not the batch or the process.
func keys[T any](ctx context.Context, key Key[T], namespace string, event T, log *slog.Logger) ([]string, error) {
	ks, err := callKey(ctx, key, event, log)
	if err == nil {
		ks, err = checkKeys(key.describe(), ks)
	}
	if err != nil {
		return nil, withEventID(err, key.describe(), eventID(ctx, event))
	}
	// A key given twice (one SKU on two order lines) is one lock: an SQS
	// record must not wait for itself.
	return compactIDs(lockIDs(namespace, ks)), nil
}

// callKey calls key, turning a panic into a *keyErr.
func callKey[T any](ctx context.Context, key Key[T], event T, log *slog.Logger) (ks []string, err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("key function panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			ks, err = nil, keyError(key.describe(), fmt.Sprintf("panicked: %v", p), nil)
		}
	}()
	return key.fn(ctx, event)
}

// compactIDs removes repeated IDs from ids, keeping the first of each in
// place.
func compactIDs(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	return slices.DeleteFunc(ids, func(id string) bool {
		if seen[id] {
			return true
		}
		seen[id] = true
		return false
	})
}

// eventID identifies an event in errors and logs: its own ID when it has
// one, else the Lambda request ID.
func eventID(ctx context.Context, event any) string {
	switch e := event.(type) {
	case events.SQSMessage:
		return e.MessageId
	case *events.SQSMessage:
		if e != nil {
			return e.MessageId
		}
	case events.EventBridgeEvent:
		if e.ID != "" {
			return e.ID
		}
	case *events.EventBridgeEvent:
		if e != nil && e.ID != "" {
			return e.ID
		}
	case events.KinesisEventRecord:
		if e.EventID != "" {
			return e.EventID
		}
	case events.DynamoDBEventRecord:
		if e.EventID != "" {
			return e.EventID
		}
	case json.RawMessage:
		var v struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(e, &v) == nil && v.ID != "" {
			return v.ID
		}
	case map[string]any:
		if id, ok := e["id"].(string); ok && id != "" {
			return id
		}
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return "unknown"
}
