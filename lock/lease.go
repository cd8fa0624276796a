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

	mu       sync.Mutex // protects the fields below
	end      time.Time  // local monotonic end of the lease
	released bool
}

func newLease(c *Client, id string, req acquireRequest, token int64, started time.Time) *Lease {
	return &Lease{client: c, id: id, leaseID: req.leaseID, token: token, o: req.o, end: started.Add(req.o.ttl)}
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
// moves it.
func (l *Lease) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end.Add(-l.o.skew)
}

// Release releases the lock: one conditional write, which goes through only
// if the lease is still the lock's current one. Releasing twice, or again
// after a lost response, is not an error. If the lease was taken over, the
// error matches both ErrLockRelease and ErrLockLost; other failures match
// ErrLockRelease and wrap the SDK's error.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	done := l.released
	l.mu.Unlock()
	if done {
		return nil
	}
	now := l.o.clock.Now()
	_, err := l.client.db.UpdateItem(ctx, releaseInput(l.client.table, l.id, l.leaseID, now, l.o.retention))
	if err != nil {
		if err = l.releaseFailed(err); err != nil {
			return err
		}
	}
	l.mu.Lock()
	l.released = true
	l.mu.Unlock()
	return nil
}

// releaseFailed tells a release that already happened (a retry whose first
// attempt went through, then another holder acquired) from a lost lock.
func (l *Lease) releaseFailed(err error) error {
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return fmt.Errorf("%w: %q: %w", ErrLockRelease, l.id, err)
	}
	if l.releasedEarlier(ccf.Item) {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrLockRelease, l.lost(ccf.Item))
}

// releasedEarlier reports whether item, found in place of the lease by a
// release, shows that an earlier attempt of the same release went through
// and only its answer was lost: the item records this lease as released by
// its holder; or another holder has the lock although this lease has not
// ended by the local clock, which, with clocks within the tolerance, only
// this holder's release allows (the lock may have changed hands more than
// once since). An operator's forced release is never taken for the
// holder's own.
func (l *Lease) releasedEarlier(item map[string]types.AttributeValue) bool {
	if len(item) == 0 || str(item, attrForcedLease) == l.leaseID {
		return false
	}
	if str(item, attrReleasedLease) == l.leaseID {
		return true
	}
	l.mu.Lock()
	end := l.end
	l.mu.Unlock()
	return str(item, attrLease) != l.leaseID && time.Now().Before(end)
}

// lost describes the item that a release or extend found in place of the
// lease.
func (l *Lease) lost(item map[string]types.AttributeValue) *LostError {
	if len(item) == 0 {
		return &LostError{LockID: l.id, Reason: "the lock's item is gone"}
	}
	rec, err := ParseRecord(item)
	switch {
	case err != nil:
		return &LostError{LockID: l.id, Reason: err.Error()}
	case rec.LeaseID == l.leaseID && rec.Forced:
		return &LostError{LockID: l.id, Reason: fmt.Sprintf("it was force-released by %q (%s)", rec.ReleasedBy, rec.ReleaseReason)}
	case rec.LeaseID == l.leaseID && rec.Released:
		return &LostError{LockID: l.id, Reason: "it was released"}
	default:
		h := rec.Holder
		return &LostError{LockID: l.id, Holder: &h, Reason: "its lease ended and another holder took it over"}
	}
}

// Extend moves the lease's end to ttl from now (the lease's TTL if ttl is
// zero): one conditional write, which goes through only if the lease is
// still the lock's current one. If it is not, the error matches
// ErrLockLost; other failures wrap the SDK's error.
func (l *Lease) Extend(ctx context.Context, ttl time.Duration) error {
	if ttl == 0 {
		ttl = l.o.ttl
	}
	if ttl <= l.o.skew || ttl%time.Millisecond != 0 {
		return invalid("extend TTL %s must be whole milliseconds and longer than the clock-skew tolerance %s", ttl, l.o.skew)
	}
	started := time.Now()
	end := l.o.clock.Now().Add(ttl)
	_, err := l.client.db.UpdateItem(ctx, extendInput(l.client.table, l.id, l.leaseID, end, l.o.retention))
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return l.lost(ccf.Item)
		}
		return fmt.Errorf("lock: extend %q: %w", l.id, err)
	}
	l.mu.Lock()
	l.end = started.Add(ttl)
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
