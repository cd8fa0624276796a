package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/dynalock/dynalock/lock"
)

// taken is what one event's acquisition got: its entity locks and its
// idempotency claim, or the completion of an earlier delivery instead.
type taken struct {
	leases []*lock.Lease    // the entity locks, by ID
	claim  *lock.Lease      // the idempotency claim, if the wrapper has one
	done   *lock.Completion // set instead when the event was completed before
}

// bindIdempotency checks, once, that the wrapper's idempotency key
// function takes the wrapper's events, T.
func bindIdempotency[T any](inv *invoker) {
	if inv.err == nil && inv.o.idem != nil {
		inv.err = inv.o.idem.validate(reflect.TypeFor[T]())
	}
}

// attempt takes ids and, with cl, the claim, waiting at most wait (opts
// already carry it): AcquireAll alone without a claim.
func (in *invocation) attempt(ctx context.Context, ids []string, cl *claimSpec, opts []lock.Option, wait time.Duration) (taken, error) {
	if cl == nil {
		leases, err := in.c.AcquireAll(ctx, ids, opts...)
		return taken{leases: leases}, err
	}
	once := append(slices.Clone(opts), lock.WithWait(0))
	var giveUp time.Time
	if wait != lock.WaitForever {
		giveUp = time.Now().Add(wait)
	}
	step := lock.DefaultRetryInterval
	for {
		t, err := in.takeOnce(ctx, ids, cl, once)
		if err == nil || wait == 0 || !errors.Is(err, lock.ErrLockAlreadyAcquired) {
			return t, err
		}
		// Never wait while holding anything: takeOnce released it all.
		sleep := step/2 + rand.N(step-step/2+1)
		var held *lock.HeldError
		if errors.As(err, &held) {
			if free := time.Until(held.Holder.ExpiresAt) + in.skew + time.Millisecond; free < sleep {
				sleep = max(free, lock.MinRetryInterval)
			}
		}
		if !giveUp.IsZero() {
			left := time.Until(giveUp)
			if left <= 0 {
				return t, err
			}
			sleep = min(sleep, left)
		}
		timer := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			timer.Stop()
			return t, err
		case <-timer.C:
		}
		step = min(step+step/2, lock.DefaultMaxRetryInterval)
	}
}

// takeOnce sends the claim and the entity locks' AcquireAll at once, one
// attempt each (opts carry no wait), so that together they cost one round
// trip of wall time. Unless both are granted it releases what it got. A
// completed claim wins over everything else: the event is a duplicate,
// answered whether its entity locks are free or not.
func (in *invocation) takeOnce(ctx context.Context, ids []string, cl *claimSpec, opts []lock.Option) (taken, error) {
	var (
		wg     sync.WaitGroup
		leases []*lock.Lease
		lerr   error
	)
	if len(ids) > 0 {
		wg.Go(func() { leases, lerr = in.c.AcquireAll(ctx, ids, opts...) })
	}
	claimOpts := opts
	if d := in.o.idem.expiry; d > 0 {
		claimOpts = append(slices.Clone(opts), lock.WithCompletionExpiry(d))
	}
	claim, cerr := in.c.Claim(ctx, cl.id, cl.payload, claimOpts...)
	wg.Wait()
	switch {
	case cerr == nil && claim.Done != nil:
		in.releaseQuietly(ctx, leases...)
		return taken{done: claim.Done}, nil
	case cerr != nil:
		in.releaseQuietly(ctx, leases...)
		if lerr != nil && !errors.Is(lerr, lock.ErrLockAlreadyAcquired) && errors.Is(cerr, lock.ErrLockAlreadyAcquired) {
			return taken{}, lerr // an outage says more than a held claim
		}
		return taken{}, cerr
	case lerr != nil:
		in.releaseQuietly(ctx, claim.Lease)
		return taken{}, lerr
	}
	return taken{leases: leases, claim: claim.Lease}, nil
}

// releaseQuietly releases leases at once, on a context that outlives
// ctx's end, bounded as a release after a handler is (cleanupContext). A
// failure leaves a lease that ends by itself; it is not the event's error.
func (in *invocation) releaseQuietly(ctx context.Context, leases ...*lock.Lease) {
	ctx, cancel := in.cleanupContext(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range leases {
		if l != nil {
			wg.Go(func() {
				if err := l.Release(ctx); err != nil {
					in.stats.releaseFailure()
					in.log.Warn("lock release failed", "lockId", l.LockID(), "error", err)
				}
			})
		}
	}
	wg.Wait()
}

// releaseBound is how long a release or a completion after the handler may
// take: the release timeout, and with a deadline at most the reserve.
func (in *invocation) releaseBound() time.Duration {
	if in.deadline.IsZero() {
		return in.o.releaseTimeout
	}
	return max(min(in.o.releaseTimeout, in.o.reserve), time.Millisecond)
}

// cleanupContext returns the context of a claim's release or completion
// sent now: ctx's values without its cancellation, ending releaseBound
// from now or at the releases' cut-off (releaseBy), whichever comes first,
// as the entity locks' releases do (lock.WithReleaseDeadline). Started
// after the handler used its whole context, a request given the release
// bound would end at the deadline or after it; then Lambda reports a
// timeout and the event is delivered again. Past the cut-off the context
// is already done, and nothing is sent.
func (in *invocation) cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	end := time.Now().Add(in.releaseBound())
	if !in.deadline.IsZero() {
		if by := in.releaseBy(); by.Before(end) {
			end = by
		}
	}
	return context.WithDeadline(context.WithoutCancel(ctx), end)
}

// runClaimed runs fn under the entity leases of t (if any) and its claim,
// and completes the claim once fn succeeded, or releases it, not
// completed, when fn failed, at the same time as the entity locks are
// released: all of them end by the releases' cut-off. The claim is
// released too when fn panics, or when its completion did not go through.
func (in *invocation) runClaimed(work context.Context, t taken, cl *claimSpec, ids []string, log *slog.Logger, fn func(context.Context) error) error {
	ev := &eventLeases{leases: t.leases, claim: t.claim}
	log = log.With("claimId", cl.id)
	var after chan error // the claim's completion or release, once fn returned
	defer func() {
		if after == nil { // fn panicked
			in.releaseQuietly(work, t.claim)
		}
	}()
	claimed := func(ctx context.Context) error {
		ctx, stop := context.WithDeadlineCause(ctx, t.claim.Deadline(),
			fmt.Errorf("middleware: the idempotency claim's lease ends (less the clock-skew tolerance): %w", context.DeadlineExceeded))
		defer stop()
		err := fn(context.WithValue(ctx, eventKey{}, ev))
		after = make(chan error, 1)
		go func() {
			var cerr error
			if err == nil {
				cerr = in.complete(work, ev, cl, log)
			}
			// After a completion, the release sends nothing.
			in.releaseQuietly(work, t.claim)
			after <- cerr
		}()
		return err
	}
	var err error
	if len(t.leases) == 0 {
		err = claimed(work)
	} else {
		err = in.runLeases(work, t.leases, ids, log, claimed)
	}
	if after != nil {
		if cerr := <-after; cerr != nil {
			return cerr
		}
	}
	return err
}

// complete marks the event done, storing the handler's result: one write
// that also releases the claim, or, after a Write completed the event in
// its transaction, one that stores the result alone. Only a result that
// cannot be stored fails the event; a completion that does not go
// through is logged and counted (ReleaseFailures), and the event
// succeeds: its handler did the work.
func (in *invocation) complete(ctx context.Context, ev *eventLeases, cl *claimSpec, log *slog.Logger) error {
	ev.mu.Lock()
	written, stored := ev.written, ev.stored
	ev.mu.Unlock()
	var result []byte
	if cl.result != nil && !in.o.idem.noResults {
		b, err := cl.result()
		switch {
		case err != nil:
			err = fmt.Errorf("middleware: the handler's output cannot be stored as the event's result: %w", err)
		case len(b) > lock.MaxResultBytes:
			err = fmt.Errorf("%w: %d bytes of JSON, more than lock.MaxResultBytes (%d): return a reference to where the result is kept, or pass WithoutResults",
				ErrResultTooLarge, len(b), lock.MaxResultBytes)
		}
		if err != nil {
			if written {
				err = fmt.Errorf("%w (the event's Write was committed and completed it: its duplicates get ErrNoResult)", err)
			}
			log.Error("result not stored: event failed", "error", err)
			return err
		}
		result = b
	}
	if written && (result == nil || bytes.Equal(result, stored)) {
		return nil // the Write's transaction stored all there is
	}
	ctx, cancel := in.cleanupContext(ctx)
	defer cancel()
	if err := ev.claim.Complete(ctx, result); err != nil {
		in.stats.releaseFailure()
		msg := "event not marked completed: a later delivery may run it again"
		if written {
			msg = "event's result not stored: its duplicates get ErrNoResult"
		}
		log.Error(msg, "error", err)
	}
	return nil
}

// claimHooks connect Wrap's output to its idempotency claim.
type claimHooks struct {
	// result returns the output's JSON, to store.
	result func() ([]byte, error)
	// answer sets the output from a completed duplicate's stored result.
	answer func(*lock.Completion) error
}

// decodeResult sets *out from a completion's stored JSON; the zero value
// with WithoutResults.
func decodeResult[T any](done *lock.Completion, id *idempotency, out *T) error {
	var zero T
	*out = zero
	if id.noResults {
		return nil
	}
	if done.Result == nil {
		return fmt.Errorf("%w (completed at %s)", ErrNoResult, done.CompletedAt.UTC().Format(time.RFC3339Nano))
	}
	if err := json.Unmarshal(done.Result, out); err != nil {
		*out = zero
		return fmt.Errorf("middleware: the stored result of a completed event does not decode as %T: %w", zero, err)
	}
	return nil
}
