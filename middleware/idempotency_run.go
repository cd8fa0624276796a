package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dynalock/dynalock/internal/lockopt"
	"log/slog"
	"maps"
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
	lease *lock.Lease // the entity locks; nil without keys
	claim *lock.Lease // the idempotency claim, if the wrapper has one
	done  *completion // set instead when the event was completed before
}

// completion is what an earlier delivery of the event stored.
type completion struct {
	result      []byte
	completedAt time.Time
}

// bindIdempotency checks, once, that the wrapper's idempotency key
// function takes the wrapper's events, T.
func bindIdempotency[T any](inv *invoker) {
	if inv.err == nil && inv.o.idem != nil {
		inv.err = inv.o.idem.validate(reflect.TypeFor[T]())
	}
	applyIdempotencyEnv(inv)
}

// attempt takes ids and, with cl, the claim, waiting at most wait (opts
// already carry it): the entity locks alone without a claim. held is the
// error of the attempt before, if any.
func (in *invocation) attempt(ctx context.Context, ids []string, cl *claimSpec, opts []lock.Option, wait time.Duration, held error) (taken, error) {
	if cl == nil {
		lease, err := in.c.Lock(ids...).Acquire(ctx, in.entityOptions(opts)...)
		return taken{lease: lease}, err
	}
	once := append(slices.Clone(opts), lock.WithWait(0))
	var giveUp time.Time
	if wait != lock.WaitForever {
		giveUp = time.Now().Add(wait)
	}
	step := retryStep
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
				sleep = max(free, minRetryStep)
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
		step = min(step+step/2, maxRetryStep)
	}
}

// claimMetadataKey is the lock metadata entry naming the idempotency claim
// of the event that holds an entity lock.
const claimMetadataKey = "dynalock.claim"

// A waiter's steps: the first, its cap, and the floor of every sleep, as
// the lock's own waits take them.
const (
	retryStep    = 50 * time.Millisecond
	maxRetryStep = 500 * time.Millisecond
	minRetryStep = 5 * time.Millisecond
)

// takeOnce sends the claim and the entity locks' acquire at once, one
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
		wg    sync.WaitGroup
		lease *lock.Lease
		lerr  error
	)
	entityOpts := append(in.entityOptions(slices.Clone(opts)), lockopt.MetadataEntry(claimMetadataKey, cl.id))
	if len(ids) > 0 && !claimFirst {
		wg.Go(func() { lease, lerr = in.c.Lock(ids...).Acquire(ctx, entityOpts...) })
	}
	claim, cerr := in.c.Claim(ctx, cl.id, cl.payload, cl.options(opts)...)
	wg.Wait()
	granted := cerr == nil && claim.Lease != nil
	if len(ids) > 0 && claimFirst && granted {
		lease, lerr = in.c.Lock(ids...).Acquire(ctx, entityOpts...)
	}
	if granted && lerr != nil && heldByDuplicate(lerr, cl) && !in.ownHolder(lerr) {
		lease, lerr = in.retakeFromDuplicate(ctx, ids, cl, entityOpts, lerr)
	}
	switch {
	case cerr == nil && claim.Done:
		in.releaseQuietly(ctx, cl, lease)
		return taken{done: &completion{result: claim.Result, completedAt: claim.CompletedAt}}, nil
	case cerr != nil:
		in.releaseQuietly(ctx, cl, lease)
		if lerr != nil && !errors.Is(lerr, lock.ErrLockAlreadyAcquired) && errors.Is(cerr, lock.ErrLockAlreadyAcquired) {
			return taken{}, lerr // an outage says more than a held claim
		}
		return taken{}, cerr
	case lerr != nil:
		in.releaseQuietly(ctx, cl, claim.Lease)
		return taken{}, lerr
	}
	return taken{lease: lease, claim: claim.Lease}, nil
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
func (in *invocation) retakeFromDuplicate(ctx context.Context, ids []string, cl *claimSpec, opts []lock.Option, held error) (*lock.Lease, error) {
	started := time.Now()
	patience := started.Add(2 * in.releaseBound())
	in.log.Debug("entity lock held by another delivery of this event, which did not get the claim: trying again", "claimId", cl.id, "error", held)
	step := 2 * minRetryStep
	for {
		sleep := step/2 + rand.N(step-step/2+1)
		var h *lock.HeldError
		if errors.As(held, &h) {
			if free := time.Until(h.Holder.ExpiresAt) + in.skew + time.Millisecond; free < sleep {
				sleep = max(free, minRetryStep)
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
		lease, err := in.c.Lock(ids...).Acquire(ctx, opts...)
		if err == nil || !heldByDuplicate(err, cl) || in.ownHolder(err) {
			return lease, err
		}
		held = err
		step = min(step+step/2, maxRetryStep)
	}
}

// releaseQuietly releases leases, those of the event whose claim is cl, at
// once, on a context that outlives ctx's end, bounded as a release after a
// handler is (cleanupContext). A failure leaves a lease that ends by
// itself; it is not the event's error, only logged, naming the lease's
// lock IDs and the claim.
func (in *invocation) releaseQuietly(ctx context.Context, cl *claimSpec, leases ...*lock.Lease) {
	ctx, cancel := in.cleanupContext(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range leases {
		if l != nil {
			wg.Go(func() {
				if err := l.Release(ctx); err != nil {
					in.stats.releaseFailure()
					// A lease of several lock IDs (the entity locks, joined
					// with the claim) has no LockID: name them all.
					in.log.Warn("lock release failed", "lockIds", slices.Sorted(maps.Keys(l.Tokens())), "claimId", cl.id, "error", err)
				}
			})
		}
	}
	wg.Wait()
}

// releaseBound is how long a release or a completion after the handler may
// take: the reserve, or without a deadline a few seconds.
func (in *invocation) releaseBound() time.Duration {
	if in.deadline.IsZero() {
		return localReleaseTimeout
	}
	return max(in.o.reserve, time.Millisecond)
}

// cleanupContext returns the context of a claim's release or completion
// sent now: ctx's values without its cancellation, ending releaseBound
// from now or at the releases' cut-off (releaseBy), whichever comes first,
// as the entity locks' releases do (lockopt.ReleaseBy). Started
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

// runClaimed runs fn under the entity locks of t (if any) and its claim,
// joined into one lease (lock.FromContext finds it: the handler's
// lease.Complete commits its effects with the completion), and then, in
// one step that ends by the releases' cut-off, completes the claim and
// releases the entity locks once fn succeeded, or releases them all, the
// claim not completed, when fn failed or panicked (the panic goes on).
func (in *invocation) runClaimed(work context.Context, t taken, cl *claimSpec, ids []string, log *slog.Logger, fn func(context.Context) error) (err error) {
	log = log.With("claimId", cl.id)
	lease := t.claim
	if t.lease != nil {
		var jerr error
		if lease, jerr = lock.Join(t.lease, t.claim); jerr != nil { // cannot happen: distinct IDs, one claim
			in.releaseQuietly(work, cl, t.lease, t.claim)
			return jerr
		}
	}
	ran := false
	defer func() {
		if !ran { // fn panicked
			in.releaseQuietly(work, cl, lease)
		}
	}()
	err = in.underLease(work, lease, fn)
	ran = true
	if err != nil {
		in.releaseQuietly(work, cl, lease)
		return err
	}
	return in.complete(work, lease, cl, ids, log)
}

// complete marks the event done, storing the handler's result, and
// releases its entity locks: one write each, at once, or none more when
// the handler's lease.Complete stored the same result in its transaction.
// Only a result that cannot be stored fails the event (its claim is
// released, so that a retry runs); a completion that does not go through
// is logged and counted (ReleaseFailures), and the event succeeds: its
// handler did the work.
func (in *invocation) complete(ctx context.Context, lease *lock.Lease, cl *claimSpec, ids []string, log *slog.Logger) error {
	var result []byte
	if cl.result != nil {
		b, err := cl.result()
		switch {
		case err != nil:
			err = fmt.Errorf("middleware: the handler's output cannot be stored as the event's result: %w", err)
		case len(b) > lock.MaxResultBytes:
			err = fmt.Errorf("%w: %d bytes of JSON, more than lock.MaxResultBytes (%d): return a reference to where the result is kept",
				ErrResultTooLarge, len(b), lock.MaxResultBytes)
		}
		if err != nil {
			log.Error("result not stored: event failed", "error", err)
			in.releaseQuietly(ctx, cl, lease)
			return err
		}
		result = b
	}
	cctx, cancel := in.cleanupContext(ctx)
	defer cancel()
	if err := lease.Complete(cctx, result); err != nil {
		in.stats.releaseFailure()
		log.Error("event not marked completed, or its locks not released: a later delivery may run it again", "lockIds", ids, "error", err)
		// The completion carries the entity locks' releases: release what
		// is still held (an operator's forget took the claim, say), so that
		// the next delivery does not wait for their leases to end. A
		// completion that went through after all has released them, and
		// this release changes nothing.
		in.releaseQuietly(ctx, cl, lease)
	}
	return nil
}

// claimHooks connect Wrap's output to its idempotency claim.
type claimHooks struct {
	// result returns the output's JSON, to store.
	result func() ([]byte, error)
	// answer sets the output from a completed duplicate's stored result.
	answer func(*completion) error
}

// decodeResult sets *out from a completion's stored JSON.
func decodeResult[T any](done *completion, out *T) error {
	var zero T
	*out = zero
	if done.result == nil {
		return fmt.Errorf("%w (completed at %s)", errNoResult, done.completedAt.UTC().Format(time.RFC3339Nano))
	}
	if err := json.Unmarshal(done.result, out); err != nil {
		*out = zero
		return fmt.Errorf("middleware: the stored result of a completed event does not decode as %T: %w", zero, err)
	}
	return nil
}

// options returns opts with the claim's keying added to its metadata, for
// its Claim: the entity locks do not carry it.
func (cl *claimSpec) options(opts []lock.Option) []lock.Option {
	out := slices.Clone(opts)
	for _, k := range slices.Sorted(maps.Keys(cl.keyed)) {
		out = append(out, lockopt.MetadataEntry(k, cl.keyed[k]))
	}
	return out
}
