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
// already carry it): AcquireAll alone without a claim. held is the error
// of the attempt before, if any.
func (in *invocation) attempt(ctx context.Context, ids []string, cl *claimSpec, opts []lock.Option, wait time.Duration, held error) (taken, error) {
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
		// While a duplicate in progress holds the claim, try the claim
		// alone: taking the entity locks too would only keep them from
		// that duplicate for a round trip each time.
		t, err := in.takeOnce(ctx, ids, cl, once, claimHeld(held, cl))
		if err == nil || wait == 0 || !errors.Is(err, lock.ErrLockAlreadyAcquired) {
			return t, err
		}
		held = err
		// Never wait while holding anything: takeOnce released it all.
		sleep := step/2 + rand.N(step-step/2+1)
		var h *lock.HeldError
		if errors.As(err, &h) {
			if free := time.Until(h.Holder.ExpiresAt) + in.skew + time.Millisecond; free < sleep {
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

// claimMetadataKey is the lock metadata entry (lock.WithMetadataEntry)
// naming the idempotency claim of the event that holds an entity lock.
const claimMetadataKey = "dynalock.claim"

// takeOnce sends the claim and the entity locks' AcquireAll at once, one
// attempt each (opts carry no wait), so that together they cost one round
// trip of wall time; with claimFirst, the claim alone, and the entity locks
// after it only if it was granted. Unless both are granted it releases what
// it got. A completed claim wins over everything else: the event is a
// duplicate, answered whether its entity locks are free or not.
//
// Of concurrent deliveries of one event, the one granted the claim runs:
// an entity lock it finds held by another delivery of the same event (the
// lock's metadata names the claim) does not refuse it, since that delivery
// found the claim held and lets go of its entity locks at once; it tries
// them again until they are free (retakeFromDuplicate). Without that, two
// deliveries that each got one of the two could both be refused, and
// under Skip both acknowledged: the event lost.
func (in *invocation) takeOnce(ctx context.Context, ids []string, cl *claimSpec, opts []lock.Option, claimFirst bool) (taken, error) {
	var (
		wg     sync.WaitGroup
		leases []*lock.Lease
		lerr   error
	)
	entityOpts := append(slices.Clone(opts), lock.WithMetadataEntry(claimMetadataKey, cl.id))
	if len(ids) > 0 && !claimFirst {
		wg.Go(func() { leases, lerr = in.c.AcquireAll(ctx, ids, entityOpts...) })
	}
	claimOpts := opts
	if d := in.o.idem.expiry; d > 0 {
		claimOpts = append(slices.Clone(opts), lock.WithCompletionExpiry(d))
	}
	claim, cerr := in.c.Claim(ctx, cl.id, cl.payload, claimOpts...)
	wg.Wait()
	granted := cerr == nil && claim.Lease != nil
	if len(ids) > 0 && claimFirst && granted {
		leases, lerr = in.c.AcquireAll(ctx, ids, entityOpts...)
	}
	if granted && lerr != nil && heldByDuplicate(lerr, cl) && !in.ownHolder(lerr) {
		leases, lerr = in.retakeFromDuplicate(ctx, ids, cl, entityOpts, lerr)
	}
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

// claimHeld reports whether err is the claim cl held: a duplicate of the
// event in progress.
func claimHeld(err error, cl *claimSpec) bool {
	var held *lock.HeldError
	return errors.As(err, &held) && held.LockID == cl.id
}

// heldByDuplicate reports whether err is an entity lock held by another
// delivery of the event whose claim is cl.
func heldByDuplicate(err error, cl *claimSpec) bool {
	var held *lock.HeldError
	return errors.As(err, &held) && held.LockID != cl.id && held.Metadata[claimMetadataKey] == cl.id
}

// ownHolder reports whether err is a lock held by a lease this invocation
// took (see ownLease): a release of its own that did not go through, which
// no wait frees.
func (in *invocation) ownHolder(err error) bool {
	var held *lock.HeldError
	if !errors.As(err, &held) {
		return false
	}
	_, ok := in.own.Load(held.Holder.LeaseID)
	return ok
}

// retakeFromDuplicate tries the entity locks ids again, for a delivery that
// holds its event's claim and found one of them held by another delivery
// of the event (held): that delivery found the claim held, and lets go at
// once, in a release bounded as this invocation's are. It stops with the
// error when a lock is found held by anything else (the policy applies to
// that), or on another failure. It gives up after twice the release bound
// (the other delivery crashed, or its release failed: its lease ends by
// itself, maybe much later), or when no useful lease could be had any
// more: then the error matches lock.ErrLockAcquisition (ErrNoTime for want
// of time), never lock.ErrLockAlreadyAcquired, so that the event fails and
// comes back: under Skip its duplicate was acknowledged already, as in
// progress, and this delivery must not be.
func (in *invocation) retakeFromDuplicate(ctx context.Context, ids []string, cl *claimSpec, opts []lock.Option, held error) ([]*lock.Lease, error) {
	started := time.Now()
	patience := started.Add(2 * in.releaseBound())
	in.log.Debug("entity lock held by another delivery of this event, which did not get the claim: trying again", "claimId", cl.id, "error", held)
	step := 2 * lock.MinRetryInterval
	for {
		sleep := step/2 + rand.N(step-step/2+1)
		var h *lock.HeldError
		if errors.As(held, &h) {
			if free := time.Until(h.Holder.ExpiresAt) + in.skew + time.Millisecond; free < sleep {
				sleep = max(free, lock.MinRetryInterval)
			}
		}
		next := time.Now().Add(sleep)
		switch last := in.lastUseful(); {
		case !last.IsZero() && next.After(last):
			return nil, fmt.Errorf("middleware: %w: gave up after %s waiting for another delivery of this event to let go of its entity lock: %v",
				ErrNoTime, time.Since(started).Round(time.Millisecond), held)
		case next.After(patience):
			return nil, fmt.Errorf("%w: another delivery of this event, which did not get its claim, kept its entity lock for %s, longer than its release may take: %v",
				lock.ErrLockAcquisition, time.Since(started).Round(time.Millisecond), held)
		}
		timer := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("middleware: %w: gave up after %s waiting for another delivery of this event to let go of its entity lock (%v): %w",
				ErrNoTime, time.Since(started).Round(time.Millisecond), held, context.Cause(ctx))
		case <-timer.C:
		}
		leases, err := in.c.AcquireAll(ctx, ids, opts...)
		if err == nil || !heldByDuplicate(err, cl) || in.ownHolder(err) {
			return leases, err
		}
		held = err
		step = min(step+step/2, lock.DefaultMaxRetryInterval)
	}
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
