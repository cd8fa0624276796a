package lock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Lease is a held lock: what Acquire returns and what FromContext finds in
// the context Do hands to fn. Its methods are safe for concurrent use.
type Lease struct {
	client  *Client
	id      string
	leaseID string
	token   int64
	o       options
	// forces is the item's ForceCount when the lease was acquired.
	forces int64
	// claim: the lease is a claim's (Client.Claim), which Complete ends.
	claim bool

	// releaseMu serialises Release calls, so that a second one judges the
	// first's outcome instead of racing it.
	releaseMu sync.Mutex

	mu       sync.Mutex // protects the fields below
	end      time.Time  // local monotonic end of the lease
	released bool
	// releaseSent: an earlier Release call failed after sending a request
	// that may have been applied.
	releaseSent bool
	// releasing: Release was called; the lease may no longer be run under.
	releasing bool
	// completed: the lease completed its claim (Complete, AndComplete).
	completed bool
}

// usable reports a Lease that was not made by Acquire (its zero value).
func (l *Lease) usable() error {
	if l == nil || l.client == nil {
		return invalid("a Lease must come from Acquire, TryAcquire, AcquireAll or Claim")
	}
	return nil
}

func newLease(c *Client, id string, req acquireRequest, rec Record, started time.Time) *Lease {
	return &Lease{client: c, id: id, leaseID: req.leaseID, token: rec.Token, o: req.o, forces: rec.ForceCount,
		claim: req.claim != nil, end: started.Add(req.o.ttl)}
}

// LockID returns the ID of the lock held.
func (l *Lease) LockID() string { return l.id }

// LeaseID returns the random ID of this lease, stored in the lock's item.
func (l *Lease) LeaseID() string { return l.leaseID }

// Owner returns the holder's name stored in the lock's item.
func (l *Lease) Owner() string { return l.o.owner }

// FencingToken returns the lease's fencing token: greater than the token of
// every earlier lease of the same lock ID. Pass it to storage that can
// reject writes carrying an older token.
func (l *Lease) FencingToken() int64 { return l.token }

// Deadline returns when the holder must have stopped working: the lease's
// end less the clock-skew tolerance, by the local monotonic clock. Extend
// moves it later, never earlier.
func (l *Lease) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end.Add(-l.o.skew)
}

// Release releases the lock: one conditional write, which goes through only
// if the lease is still the lock's current one. Releasing twice, or again
// after a lost response, is not an error. If the lease was taken over or
// an operator released it, the error matches both ErrLockRelease and
// ErrLockLost. If an earlier attempt may have gone through but the lock
// has moved on so that it cannot be told whether it did, the error matches
// ErrLockRelease and ErrReleaseUnknown (not ErrLockLost). Other failures
// match ErrLockRelease and wrap the SDK's error.
//
// Releasing a claim that this lease completed (Complete, or Write with
// AndComplete) is a success and changes nothing, also when every answer
// to the completion was lost and the caller saw an error: no one holds the
// lock, and the completion stands, with its result and its expiry (the
// release never rewrites a released item, so the item's TTL stays the
// completion's). A later Complete replaces the stored result, as after
// any completion.
func (l *Lease) Release(ctx context.Context) error {
	if err := l.usable(); err != nil {
		return err
	}
	l.releaseMu.Lock()
	defer l.releaseMu.Unlock()
	l.mu.Lock()
	done, sent := l.released, l.releaseSent
	l.releasing = true
	l.mu.Unlock()
	if done {
		return nil
	}
	var seen attempts
	now := l.o.clock.Now()
	_, err := l.client.db.UpdateItem(ctx, releaseInput(l.client.table, l.id, l.leaseID, now, l.o.retention), seen.option())
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			if seen.any() {
				l.mu.Lock()
				l.releaseSent = true
				l.mu.Unlock()
			}
			return fmt.Errorf("%w: %q: %w", ErrLockRelease, l.id, err)
		}
		if err := l.releaseRefused(ccf.Item, sent || seen.earlier()); err != nil {
			return err
		}
		if rec, err := ParseRecord(ccf.Item); err == nil && rec.LeaseID == l.leaseID && rec.CompletedLease == l.leaseID {
			// A completion whose answer was lost: the claim is done.
			l.mu.Lock()
			l.completed = true
			l.mu.Unlock()
		}
	}
	l.mu.Lock()
	l.released = true
	l.mu.Unlock()
	return nil
}

// releaseRefused judges the item a release's failed condition found in
// place of the lease. It returns nil when the item shows that this
// holder's own release went through earlier (maybeSent: an earlier attempt
// may have been applied, its answer lost), an error matching ErrLockLost
// when the lease was lost, and one matching ErrReleaseUnknown when it
// cannot be told which.
func (l *Lease) releaseRefused(item map[string]types.AttributeValue, maybeSent bool) error {
	if len(item) == 0 {
		if maybeSent {
			return l.unknown("the lock's item is gone")
		}
		return fmt.Errorf("%w: %w", ErrLockRelease, l.lost(item))
	}
	rec, err := ParseRecord(item)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrLockRelease, l.lost(item))
	case rec.LeaseID == l.leaseID && rec.Released && !rec.Forced:
		// An earlier attempt went through, or this lease completed its
		// claim (Complete or AndComplete, its answer lost).
		return nil
	case rec.LeaseID == l.leaseID, !maybeSent, l.forced(rec) == forcedYes:
		// Force-released, or taken over by a lease this holder never
		// released.
		return fmt.Errorf("%w: %w", ErrLockRelease, l.lost(item))
	}
	// The lock moved on, and this holder's release may have gone through.
	// Its lease can have been taken over by expiry only after its local
	// end, by this process's monotonic clock (a taker's clock must be past
	// the stored end plus the tolerance, and clocks differ by less). The
	// answer at hand was decided before now: if now is before the local
	// end, every handoff since came after a release, and unless an
	// operator's, this holder's.
	l.mu.Lock()
	end := l.end
	l.mu.Unlock()
	if time.Now().Before(end) && l.forced(rec) == forcedNo {
		return nil
	}
	return l.unknown("an earlier attempt may have released it, and the lock has changed hands since in a way that does not tell")
}

func (l *Lease) unknown(reason string) error {
	return fmt.Errorf("%w: %w: %q: %s", ErrLockRelease, ErrReleaseUnknown, l.id, reason)
}

// forcedness says whether an operator released a lease.
type forcedness int

const (
	forcedUnknown forcedness = iota
	forcedYes
	forcedNo
)

// forced tells from a later item whether an operator released this
// lease: the item names the last lease forced, and counts them; if it is
// not this one and at most one was forced since this lease was acquired,
// this one was not.
func (l *Lease) forced(rec Record) forcedness {
	switch {
	case rec.ForcedLease == l.leaseID:
		return forcedYes
	case rec.ForceCount == l.forces || rec.ForceCount == l.forces+1:
		return forcedNo
	}
	return forcedUnknown
}

// lost describes the item that a release or extend found in place of the
// lease.
func (l *Lease) lost(item map[string]types.AttributeValue) *LostError {
	if len(item) == 0 {
		return &LostError{LockID: l.id, Reason: "the lock's item is gone"}
	}
	rec, err := ParseRecord(item)
	if err != nil {
		return &LostError{LockID: l.id, Reason: err.Error()}
	}
	if rec.LeaseID == l.leaseID {
		if rec.Forced {
			return &LostError{LockID: l.id, Reason: fmt.Sprintf("it was force-released by %q (%s)", rec.ReleasedBy, rec.ReleaseReason)}
		}
		return &LostError{LockID: l.id, Reason: "it was released"}
	}
	e := &LostError{LockID: l.id}
	switch l.forced(rec) {
	case forcedYes:
		e.Reason = "an operator force-released it and another holder took it over"
	case forcedNo:
		e.Reason = "its lease ended and another holder took it over"
	default:
		e.Reason = "another holder took it over (its lease ended, or an operator released it)"
	}
	if rec.Held(l.o.clock.Now()) {
		h := rec.Holder
		e.Holder = &h
	} else {
		e.Reason += "; that holder's lease is over too"
	}
	return e
}

// Extend moves the lease's end to ttl from now (the lease's TTL if ttl is
// zero), unless it already ends later: an extend never shortens a lease.
// It is one conditional write, which goes through only if the lease is
// still the lock's current one; if it is not, the error matches
// ErrLockLost; other failures wrap the SDK's error. Extend moves Deadline,
// but not the deadline of a context Do already handed to fn.
//
// A lease taken with WithLeaseEnd (as the Lambda middleware takes every
// lease: it ends at the invocation's deadline plus the grace) is never
// extended past that end: an extension that would end after it, such as
// Extend(ctx, 0), is refused with an error matching ErrInvalidInput,
// before any request. It is refused rather than cut to the end, so that
// a nil error always means the lease lasts at least ttl from now. One
// that ends by the fixed end is sent as usual: since the lease already
// ends there, it tells whether the lease still holds the lock.
func (l *Lease) Extend(ctx context.Context, ttl time.Duration) error {
	if err := l.usable(); err != nil {
		return err
	}
	if ttl == 0 {
		ttl = l.o.ttl
	}
	if ttl%time.Millisecond != 0 {
		return invalid("extend TTL %s must be whole milliseconds", ttl)
	}
	if ttl < MinTTL(l.o.skew) {
		return ttlTooShort(ttl, l.o.skew)
	}
	started := time.Now()
	if !l.o.leaseEnd.IsZero() {
		// The fixed end, as the acquire sized its TTL: the local time
		// left, rounded up to the millisecond.
		if left := ceilMilliDuration(l.o.leaseEnd.Sub(started)); ttl > left {
			return invalid("Extend(%s): the lease of %q ends at a fixed time (WithLeaseEnd), %s from now, and is never extended past it",
				ttl, l.id, max(left, 0))
		}
	}
	end := l.o.clock.Now().Add(ttl)
	_, err := l.client.db.UpdateItem(ctx, extendInput(l.client.table, l.id, l.leaseID, end, l.o.retention))
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return fmt.Errorf("lock: extend %q: %w", l.id, err)
		}
		if rec, perr := ParseRecord(ccf.Item); perr != nil || rec.LeaseID != l.leaseID || rec.Released {
			return l.lost(ccf.Item)
		}
		return nil // the lease already ends later
	}
	l.mu.Lock()
	if e := started.Add(ttl); e.After(l.end) {
		l.end = e
	}
	l.mu.Unlock()
	return nil
}

type leaseKey struct{}

// FromContext returns the lease that Do put in ctx, if any. Under DoAll it
// is the first lease by ID; under nested Do calls, the innermost.
func FromContext(ctx context.Context) (*Lease, bool) {
	leases := AllFromContext(ctx)
	if len(leases) == 0 {
		return nil, false
	}
	return leases[0], true
}

// AllFromContext returns the leases that Do or DoAll put in ctx, if any.
func AllFromContext(ctx context.Context) []*Lease {
	leases, _ := ctx.Value(leaseKey{}).([]*Lease)
	return leases
}
