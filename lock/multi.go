package lock

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// acquireParts acquires every lock in ids (sorted, without repeats), all
// or none. It sends the acquire requests at once, so the set costs one
// round trip of wall time, under one lease ID. If any lock is held, it
// releases those it got and, as far as the wait option allows, tries the
// whole set again after a wait step. It never waits while holding a lock,
// so callers taking overlapping sets in any order cannot deadlock.
func (c *Client) acquireParts(ctx context.Context, ids []string, o options) ([]*part, error) {
	var parts []*part
	err := c.retryWhileHeld(ctx, o, func(w *watch) error {
		var err error
		parts, err = c.attemptAll(ctx, ids, newLeaseID(), o, w)
		return err
	})
	return parts, err
}

// sortedIDs returns ids sorted, each once.
func sortedIDs(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return slices.Compact(ids)
}

// attemptAll sends one acquire per ID concurrently, all for lease leaseID. If any fails, it
// releases the others and returns the first error by ID order, preferring
// a failure other than a held lock.
func (c *Client) attemptAll(ctx context.Context, ids []string, leaseID string, o options, w *watch) ([]*part, error) {
	if len(ids) == 1 {
		l, err := c.attempt(ctx, ids[0], leaseID, o, w)
		if err != nil {
			return nil, err
		}
		return []*part{l}, nil
	}
	leases := make([]*part, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { leases[i], errs[i] = c.attempt(ctx, id, leaseID, o, w) })
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
func releaseAll(ctx context.Context, leases []*part, o options) error {
	ctx, cancel := releaseContext(ctx, o)
	defer cancel()
	errs := make([]error, len(leases))
	var wg sync.WaitGroup
	for i, l := range leases {
		if l != nil {
			wg.Go(func() { errs[i] = l.release(ctx) })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}
