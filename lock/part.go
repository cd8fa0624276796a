package lock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// part is the lease of one lock ID: one item's share of a Lease. Its
// methods are safe for concurrent use.
type part struct {
	client  *Client
	id      string
	leaseID string
	token   int64
	o       options
	// forces is the item's ForceCount when the lease was acquired.
	forces int64
	// claim: the lease is a claim's (Client.Claim), which Complete ends.
	claim bool
	// permits: the lock ID admits this many holders (WithPermits); 0 or 1
	// is the single lease, more a permit (permits.go).
	permits int

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
	// completed: the lease completed its claim (Lease.Complete), storing
	// stored as its result (when known: not while a write of it may or
	// may not have gone through).
	completed   bool
	stored      []byte
	storedKnown bool
	// finishSent: a Complete with items was sent and its outcome is not
	// known (its answer was lost): a later one that finds this lease's
	// locks released by this lease knows it went through.
	finishSent bool
	// seq numbers the lease's versions (its extends, nextExtend), and
	// granted is the most any write of the lease granted
	// (lockitem.AttrLeaseMs).
	seq     int64
	granted time.Duration
}

// usable reports a Lease that was not made by Acquire (its zero value).
func (l *part) usable() error {
	if l == nil || l.client == nil {
		return invalid("a Lease must come from Acquire or Claim")
	}
	return nil
}

func newLease(c *Client, id string, req acquireRequest, rec record, started time.Time) *part {
	return &part{client: c, id: id, leaseID: req.leaseID, token: rec.Token, o: req.o, forces: rec.ForceCount,
		claim: req.claim != nil, end: started.Add(req.o.TTL), granted: req.o.TTL}
}

// Deadline returns when the holder must have stopped working: the lease's
// end less the clock-skew tolerance, by the local monotonic clock. Extend
// moves it later, never earlier.
func (l *part) deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end.Add(-l.o.Skew)
}

// Release releases the lock: one conditional write, which goes through only
// if the lease is still the lock's current one. Releasing twice, or again
// after a lost response, is not an error. If the lease was taken over or
// an operator released it, the error matches both ErrLockRelease and
// ErrLockLost. If an earlier attempt may have gone through but the lock
// has moved on so that it cannot be told whether it did, the error matches
// ErrLockRelease and ErrReleaseUnknown (not ErrLockLost). Other failures
// match ErrLockRelease and wrap the SDK's error.
func (l *part) release(ctx context.Context) error {
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
	_, err := l.client.db.UpdateItem(ctx, l.releaseRequest(), seen.option())
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
		if err := l.releaseJudged(ccf.Item, sent || seen.earlier()); err != nil {
			return err
		}
	}
	l.mu.Lock()
	l.released = true
	l.mu.Unlock()
	return nil
}

// releaseRequest is a release's one write: the single lease's release, or
// for a permit the removal of its entry; both conditioned on the token the
// holder was granted.
func (l *part) releaseRequest() *dynamodb.UpdateItemInput {
	if l.permits > 1 {
		return l.client.permitReleaseInput(l.id, l.leaseID, l.token)
	}
	return onGrantedToken(l.client.releaseInput(l.id, l.leaseID, l.o.Now(), l.o.Retention), l.token)
}

// releaseJudged judges the item a refused release found (maybeSent: an
// earlier attempt may have gone through): nil when this holder's own
// release did, else why not (releaseRefused, or permitGoneEarlier for a
// permit). A single lease found completed by its own lost completion is
// marked completed.
func (l *part) releaseJudged(item map[string]types.AttributeValue, maybeSent bool) error {
	if l.permits > 1 {
		return l.permitGoneEarlier(item, maybeSent)
	}
	if err := l.releaseRefused(item, maybeSent); err != nil {
		return err
	}
	if rec, err := l.client.parseRecord(item); err == nil && rec.LeaseID == l.leaseID && rec.CompletedLease == l.leaseID {
		// A completion whose answer was lost: the claim is done.
		l.mu.Lock()
		l.completed = true
		l.mu.Unlock()
	}
	return nil
}

// releaseRefused judges the item a release's failed condition found in
// place of the lease. It returns nil when the item shows that this
// holder's own release went through earlier (maybeSent: an earlier attempt
// may have been applied, its answer lost), an error matching ErrLockLost
// when the lease was lost, and one matching ErrReleaseUnknown when it
// cannot be told which.
func (l *part) releaseRefused(item map[string]types.AttributeValue, maybeSent bool) error {
	if len(item) == 0 {
		if maybeSent {
			return l.unknown("the lock's item is gone")
		}
		return fmt.Errorf("%w: %w", ErrLockRelease, l.lost(item))
	}
	rec, err := l.client.parseRecord(item)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrLockRelease, l.lost(item))
	case rec.LeaseID == l.leaseID && !l.revived(rec) && rec.Released && !rec.Forced:
		// An earlier attempt went through, or this lease completed its
		// claim (Complete, its answer lost).
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

func (l *part) unknown(reason string) error {
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
func (l *part) forced(rec record) forcedness {
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
func (l *part) lost(item map[string]types.AttributeValue) *lostError {
	if l.permits > 1 {
		return l.permitLost(item)
	}
	if len(item) == 0 {
		return &lostError{LockID: l.id, Reason: "the lock's item is gone"}
	}
	rec, err := l.client.parseRecord(item)
	if err != nil {
		return &lostError{LockID: l.id, Reason: err.Error()}
	}
	if l.revived(rec) {
		return &lostError{LockID: l.id, Reason: "its lease ended and another holder took it over (or an operator released it); " +
			"a late copy of its acquire request has since taken the lock under its lease ID, with another token, for nobody"}
	}
	if rec.LeaseID == l.leaseID {
		if rec.Forced {
			return &lostError{LockID: l.id, Reason: fmt.Sprintf("it was force-released by %q (%s)", rec.ReleasedBy, rec.ReleaseReason)}
		}
		return &lostError{LockID: l.id, Reason: "it was released"}
	}
	e := &lostError{LockID: l.id}
	switch l.forced(rec) {
	case forcedYes:
		e.Reason = "an operator force-released it and another holder took it over"
	case forcedNo:
		e.Reason = "its lease ended and another holder took it over"
	default:
		e.Reason = "another holder took it over (its lease ended, or an operator released it)"
	}
	if rec.Held(l.o.Now()) {
		h := holderOf(rec)
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
// ErrLockLost; other failures wrap the SDK's error. Concurrent calls on one
// Lease are numbered, and a write never lands over a later-numbered one:
// a call refused so, whose later rival asked for less, writes again
// (at most maxExtendTries in all). Extend moves Deadline,
// but not the deadline of a context Do already handed to fn.
func (l *part) extend(ctx context.Context, ttl time.Duration) error {
	ttl, err := l.checkExtend(ttl)
	if err != nil {
		return err
	}
	if l.permits > 1 {
		return l.permitExtend(ctx, ttl)
	}
	for try := 1; ; try++ {
		w := l.nextExtend(ttl)
		in := onGrantedToken(l.client.extendInput(l.id, l.leaseID, w.end, l.o.Retention), l.token)
		versioned(in, l.leaseID, w.seq, w.granted, true)
		_, err = l.client.db.UpdateItem(ctx, in)
		if err != nil {
			var ccf *types.ConditionalCheckFailedException
			if !errors.As(err, &ccf) {
				return fmt.Errorf("lock: extend %q: %w", l.id, err)
			}
			if rec, perr := l.client.parseRecord(ccf.Item); perr != nil || rec.LeaseID != l.leaseID || rec.Released || l.revived(rec) {
				return l.lost(ccf.Item)
			}
			if !w.supersededBy(ccf.Item) {
				return nil // the lease already ends later
			}
			if try == maxExtendTries {
				return fmt.Errorf("lock: extend %q: %d times, a concurrent Extend of the lease asking for less landed after this one", l.id, try)
			}
			continue
		}
		l.mu.Lock()
		if e := w.started.Add(ttl); e.After(l.end) {
			l.end = e
		}
		l.mu.Unlock()
		return nil
	}
}

// maxExtendTries bounds how often one Extend call is tried again after a
// concurrent Extend of the same lease that asked for less landed after it
// (extendWrite.supersededBy).
const maxExtendTries = 3

// checkExtend returns the TTL an extension by ttl asks for (the lease's
// own for 0), or why it is refused before any request: not whole
// milliseconds, shorter than twice the tolerance, or past the lease's
// fixed end (WithLeaseEnd). An extension past it is refused rather than
// cut to it, so that a nil error always means the lease lasts at least
// ttl from now.
func (l *part) checkExtend(ttl time.Duration) (time.Duration, error) {
	if err := l.usable(); err != nil {
		return 0, err
	}
	if ttl == 0 {
		ttl = l.o.TTL
	}
	if ttl%time.Millisecond != 0 {
		return 0, invalid("extend TTL %s must be whole milliseconds", ttl)
	}
	if ttl < minTTL(l.o.Skew) {
		return 0, ttlTooShort(ttl, l.o.Skew)
	}
	if !l.o.LeaseEnd.IsZero() {
		// The local time left, rounded down to the millisecond: the
		// stored end, now+ttl rounded up, then never passes the fixed
		// end's millisecond, however soon after the acquire this runs
		// (rounding up here let an extend within 1 ms of the acquire
		// store an end 1 ms past the one the acquire stored).
		if left := time.Until(l.o.LeaseEnd).Truncate(time.Millisecond); ttl > left {
			return 0, invalid("Extend(%s): the lease of %q ends at a fixed time (WithLeaseEnd), %s from now, and is never extended past it",
				ttl, l.id, max(left, 0))
		}
	}
	return ttl, nil
}
