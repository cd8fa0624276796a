package lock

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Lease is what one Acquire or Claim took: the locks of one or several lock
// IDs, held under one lease ID, and for a claim the claim. Do hands it to fn
// in its context (FromContext). Its methods are safe for concurrent use.
type Lease struct {
	locks []*part // by lock ID; for a Claim not joined to entity locks, the claim
	claim *part   // the claim (Client.Claim), or nil
}

// usable reports a Lease that was not made by Acquire or Claim.
func (l *Lease) usable() error {
	if l == nil || len(l.locks) == 0 {
		return invalid("a Lease must come from Acquire or Claim")
	}
	return nil
}

// parts returns every item the lease holds: its locks, and its claim.
func (l *Lease) parts() []*part {
	if l.claim == nil || l.claim == l.locks[0] {
		return l.locks
	}
	return append(append(make([]*part, 0, len(l.locks)+1), l.locks...), l.claim)
}

// LockID returns the lease's lock ID, or "" for a lease of several lock
// IDs (Tokens names each).
func (l *Lease) LockID() string {
	if l.usable() != nil || len(l.locks) > 1 {
		return ""
	}
	return l.locks[0].id
}

// LeaseID returns the random ID of this lease, stored in each of its
// locks' items. A lease made by Join holds the leases of several calls,
// each with its own ID: LeaseID returns its first lock's.
func (l *Lease) LeaseID() string {
	if l.usable() != nil {
		return ""
	}
	return l.locks[0].leaseID
}

// FencingToken returns the lease's fencing token: greater than the token
// of every earlier lease of the same lock ID. Pass it to storage that can
// reject writes carrying an older token. A lease of several lock IDs has
// one token per ID, from each ID's own sequence (Tokens), and FencingToken
// returns 0, which no lease carries: a token must fence only its own
// lock's entity.
func (l *Lease) FencingToken() int64 {
	if l.usable() != nil || len(l.locks) > 1 {
		return 0
	}
	return l.locks[0].token
}

// Tokens returns the fencing token of each of the lease's lock IDs.
func (l *Lease) Tokens() map[string]int64 {
	if l.usable() != nil {
		return nil
	}
	m := make(map[string]int64, len(l.locks))
	for _, p := range l.locks {
		m[p.id] = p.token
	}
	return m
}

// Deadline returns when the holder must have stopped working: the earliest
// end of the lease's locks less the clock-skew tolerance, by the local
// monotonic clock. Extend moves it later, never earlier.
func (l *Lease) Deadline() time.Time {
	if l.usable() != nil {
		return time.Time{}
	}
	var d time.Time
	for i, p := range l.parts() {
		if pd := p.deadline(); i == 0 || pd.Before(d) {
			d = pd
		}
	}
	return d
}

// Release releases every lock of the lease (and a claim, uncompleted, so
// that a retry can do the work), each with one conditional write that goes
// through only if the lease still holds that lock, all at once. Releasing
// twice, again after a lost response, or after Complete is not an error.
// If a lock was taken over or an operator released it, the error matches
// both ErrLockRelease and ErrLockLost. If an earlier attempt may have gone
// through but the lock has moved on so that it cannot be told whether it
// did, the error matches ErrLockRelease and ErrReleaseUnknown (not
// ErrLockLost). Other failures match ErrLockRelease and wrap the SDK's
// error.
func (l *Lease) Release(ctx context.Context) error {
	if err := l.usable(); err != nil {
		return err
	}
	return eachPart(l.parts(), func(p *part) error { return p.release(ctx) })
}

// Extend moves the end of each of the lease's locks to ttl from now (the
// TTL if ttl is zero), unless it already ends later: an extend never
// shortens a lease, and a lease with a fixed end (WithLeaseEnd) is never
// extended past it (such an Extend is refused with ErrInvalidInput before
// any request). Each is one conditional write, which goes
// through only if the lease still holds that lock; if one does not, the
// error matches ErrLockLost; other failures wrap the SDK's error. Extend
// moves Deadline, but not the deadline of a context Do already handed to
// fn.
func (l *Lease) Extend(ctx context.Context, ttl time.Duration) error {
	if err := l.usable(); err != nil {
		return err
	}
	for _, p := range l.parts() {
		if _, err := p.checkExtend(ttl); err != nil {
			return err // refused before any part's request
		}
	}
	return eachPart(l.parts(), func(p *part) error { return p.extend(ctx, ttl) })
}

// eachPart calls f for every part at once and joins their errors.
func eachPart(parts []*part, f func(*part) error) error {
	if len(parts) == 1 {
		return f(parts[0])
	}
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Go(func() { errs[i] = f(p) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

type leaseKey struct{}

// NewContext returns a copy of ctx that carries lease, for FromContext: Do
// calls it for fn, and the Lambda middleware for the handler.
func NewContext(ctx context.Context, lease *Lease) context.Context {
	return context.WithValue(ctx, leaseKey{}, lease)
}

// FromContext returns the lease that Do (or the Lambda middleware) put in
// ctx, if any; under nested Do calls, the innermost.
func FromContext(ctx context.Context) (*Lease, bool) {
	l, ok := ctx.Value(leaseKey{}).(*Lease)
	return l, ok && l != nil
}
