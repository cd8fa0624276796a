package lock

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Lock is a lock on one lock ID, or on several taken together: what New
// returns (the original DynaLock's object) and what Client.Lock names.
type Lock struct {
	client *Client
	ids    []string
}

// Acquire acquires the lock (every lock ID of it, all or none) and returns
// the lease. By default it makes one attempt, as the original DynaLock
// does: one DynamoDB request per lock ID, sent at once. With WithWait it
// keeps trying a held lock, with jittered backoff, for as long as the wait
// allows and ctx lasts; it never waits while holding any of the IDs, so
// callers taking overlapping sets in any order cannot deadlock. It blocks
// while it waits.
//
// A held lock is a *HeldError (matching ErrLockAlreadyAcquired and
// ErrLockAcquisition); other failures match ErrLockAcquisition and wrap
// the SDK's error. Release the lease when done, or use Do.
func (l *Lock) Acquire(ctx context.Context, opts ...Option) (*Lease, error) {
	if l == nil || l.client == nil {
		return nil, invalid("a Lock must come from New or Client.Lock")
	}
	ids := sortedIDs(l.ids)
	if len(ids) == 0 {
		return nil, invalid("no lock IDs: name them with Client.Lock")
	}
	o, err := l.client.callOptions(ids, opts)
	if err != nil {
		return nil, err
	}
	parts, err := l.client.acquireParts(ctx, ids, o)
	if err != nil {
		return nil, err
	}
	return &Lease{locks: parts}, nil
}

// Do acquires the lock, runs fn and releases the lock when fn returns,
// returns an error or panics (the release comes first, then the panic goes
// on). By default it makes one attempt to acquire, as the original
// DynaLock does; WithWait makes it wait.
//
// fn's context carries the lease (FromContext) and ends at the lease's
// Deadline: the lease's end less the clock-skew tolerance. Extending the
// lease from fn does not move that deadline; to run longer than the TTL,
// configure a heartbeat (Config.Heartbeat): then the context has no such
// deadline but is cancelled, with a cause matching ErrLockLost, if the
// lease is lost. The heartbeat has stopped by the time Do returns. The
// release runs on a context that outlives ctx's cancellation, bounded to
// a few seconds.
//
// Do returns fn's error. If the release fails as well, it returns both,
// joined; if the lock is not acquired, fn does not run and Do returns the
// acquisition error.
func (l *Lock) Do(ctx context.Context, fn func(context.Context) error, opts ...Option) (err error) {
	if fn == nil {
		return invalid("nil function")
	}
	lease, err := l.Acquire(ctx, opts...)
	if err != nil {
		return err
	}
	parts := lease.parts()
	fnCtx, stop := workContext(ctx, parts)
	defer func() {
		stop()
		relErr := releaseAll(ctx, parts, parts[0].o)
		if r := recover(); r != nil {
			panic(r)
		}
		if relErr != nil {
			err = errors.Join(err, relErr)
		}
	}()
	return fn(NewContext(fnCtx, lease))
}

// workContext returns the context fn runs under and a function that ends it
// and waits for the heartbeats, if any, to stop.
func workContext(ctx context.Context, leases []*part) (context.Context, func()) {
	deadline := leases[0].deadline()
	heartbeat := false
	for _, l := range leases {
		if d := l.deadline(); d.Before(deadline) {
			deadline = d
		}
		heartbeat = heartbeat || l.o.Heartbeat > 0
	}
	if !heartbeat {
		cause := fmt.Errorf("lock: lease of %q ends (less the clock-skew tolerance): %w", leases[0].id, context.DeadlineExceeded)
		return context.WithDeadlineCause(ctx, deadline, cause)
	}
	fnCtx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{}, len(leases))
	for _, l := range leases {
		go func() {
			defer func() { done <- struct{}{} }()
			l.heartbeat(fnCtx, cancel)
		}()
	}
	return fnCtx, func() {
		cancel(context.Canceled)
		for range leases {
			<-done
		}
	}
}

// heartbeat extends the lease every interval until ctx ends. It cancels
// ctx with a cause matching ErrLockLost if an extension finds the lock
// lost, or if the lease's deadline comes before an extension succeeds.
// With no heartbeat interval, it only enforces the deadline.
func (l *part) heartbeat(ctx context.Context, cancel context.CancelCauseFunc) {
	interval := l.o.Heartbeat
	if interval <= 0 {
		interval = WaitForever
	}
	next := time.NewTimer(interval)
	defer next.Stop()
	for {
		deadline := time.NewTimer(time.Until(l.deadline()))
		select {
		case <-ctx.Done():
			deadline.Stop()
			return
		case <-deadline.C:
			cancel(&lostError{LockID: l.id, Reason: "no heartbeat succeeded before the lease ended"})
			return
		case <-next.C:
		}
		deadline.Stop()
		reqCtx, cancelReq := context.WithDeadline(ctx, l.deadline())
		err := l.extend(reqCtx, 0)
		cancelReq()
		if errors.Is(err, ErrLockLost) {
			cancel(err)
			return
		}
		if err != nil {
			next.Reset(interval / 4) // transient: try again soon, before the deadline
			continue
		}
		next.Reset(interval)
	}
}
