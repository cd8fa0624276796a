package lock

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// AcquireAll acquires every lock in ids, all or none. It sends the acquire
// requests at once, so the set costs one round trip of wall time. If any
// lock is held, it releases those it got and, as far as the wait option
// allows, tries the whole set again after a wait step. It never waits while
// holding a lock, so callers taking overlapping sets in any order cannot
// deadlock. Duplicate IDs are taken once; the leases come back in sorted
// ID order.
func (c *Client) AcquireAll(ctx context.Context, ids []string, opts ...Option) ([]*Lease, error) {
	if len(ids) == 0 {
		return nil, invalid("no lock IDs")
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var o options
	for _, id := range ids {
		var err error
		if o, err = c.callOptions(id, opts); err != nil {
			return nil, err
		}
	}
	var leases []*Lease
	err := c.retryWhileHeld(ctx, o, func() (time.Time, error) {
		var err error
		leases, err = c.attemptAll(ctx, ids, o)
		return heldUntil(err), err
	})
	return leases, err
}

// attemptAll sends one acquire per ID concurrently. If any fails, it
// releases the others and returns the first error by ID order, preferring
// a failure other than a held lock.
func (c *Client) attemptAll(ctx context.Context, ids []string, o options) ([]*Lease, error) {
	if len(ids) == 1 {
		l, err := c.attempt(ctx, ids[0], o)
		if err != nil {
			return nil, err
		}
		return []*Lease{l}, nil
	}
	leases := make([]*Lease, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { leases[i], errs[i] = c.attempt(ctx, id, o) })
	}
	wg.Wait()
	first := firstError(errs)
	if first == nil {
		return leases, nil
	}
	releaseAll(ctx, leases, o)
	return nil, first
}

func firstError(errs []error) error {
	var held error
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, ErrLockAlreadyAcquired):
			if held == nil {
				held = err
			}
		default:
			return err
		}
	}
	return held
}

// releaseAll releases every non-nil lease concurrently on a context that
// outlives ctx's cancellation (o.releaseContext), and returns their errors
// joined.
func releaseAll(ctx context.Context, leases []*Lease, o options) error {
	ctx, cancel := o.releaseContext(ctx)
	defer cancel()
	errs := make([]error, len(leases))
	var wg sync.WaitGroup
	for i, l := range leases {
		if l != nil {
			wg.Go(func() { errs[i] = l.Release(ctx) })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}
