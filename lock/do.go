package lock

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Do acquires the lock id, runs fn and releases the lock when fn returns,
// returns an error or panics (the release comes first, then the panic goes
// on). By default it makes one attempt to acquire, as the original DynaLock
// does; WithWait makes it wait.
//
// fn's context carries the lease (see FromContext) and ends at the lease's
// Deadline: the lease's end less the clock-skew tolerance. Extending the
// lease from fn does not move that deadline; to run longer than the TTL,
// use a heartbeat (WithHeartbeat): then the context has no such deadline
// but is cancelled, with a cause matching ErrLockLost, if the lease is
// lost. The heartbeat has stopped by the time Do returns.
//
// Do returns fn's error. If the release fails as well, it returns both,
// joined; if the lock is not acquired, fn does not run and Do returns the
// acquisition error.
func (c *Client) Do(ctx context.Context, id string, fn func(context.Context) error, opts ...Option) error {
	if fn == nil {
		return invalid("nil function")
	}
	lease, err := c.Acquire(ctx, id, opts...)
	if err != nil {
		return err
	}
	return Run(ctx, []*Lease{lease}, fn)
}

// DoAll is Do over several locks, acquired all or none by AcquireAll.
// fn's context ends at the earliest of their deadlines; FromContext returns
// the first lease by ID and AllFromContext all of them.
func (c *Client) DoAll(ctx context.Context, ids []string, fn func(context.Context) error, opts ...Option) error {
	if fn == nil {
		return invalid("nil function")
	}
	leases, err := c.AcquireAll(ctx, ids, opts...)
	if err != nil {
		return err
	}
	return Run(ctx, leases, fn)
}

// Run runs fn under leases that the caller acquired, as Do does: fn's
// context carries them and ends with the earliest lease (or is cancelled
// when a heartbeat finds one lost), and every lease is released when fn
// returns or panics, on a context that outlives ctx's cancellation. A nil
// or already released lease would leave fn without exclusion: then Run
// releases the other leases and returns ErrInvalidInput without running
// fn.
func Run(ctx context.Context, leases []*Lease, fn func(context.Context) error) (err error) {
	if err := checkRun(leases, fn); err != nil {
		var held []*Lease
		for _, l := range leases {
			if l != nil && l.client != nil {
				held = append(held, l)
			}
		}
		if len(held) > 0 {
			err = errors.Join(err, releaseAll(ctx, held, held[0].o))
		}
		return err
	}
	fnCtx, stop := workContext(ctx, leases)
	defer func() {
		stop()
		relErr := releaseAll(ctx, leases, leases[0].o)
		if r := recover(); r != nil {
			panic(r)
		}
		if relErr != nil {
			err = errors.Join(err, relErr)
		}
	}()
	return fn(context.WithValue(fnCtx, leaseKey{}, leases))
}

func checkRun(leases []*Lease, fn func(context.Context) error) error {
	if len(leases) == 0 || fn == nil {
		return invalid("Run needs leases and a function")
	}
	for i, l := range leases {
		if l == nil || l.client == nil {
			return invalid("Run: lease %d of %d is nil or not from an acquire", i+1, len(leases))
		}
		l.mu.Lock()
		releasing := l.releasing || l.released
		l.mu.Unlock()
		if releasing {
			return invalid("Run: the lease of %q was released, or its release was tried", l.id)
		}
	}
	return nil
}

// workContext returns the context fn runs under and a function that ends it
// and waits for the heartbeats, if any, to stop.
func workContext(ctx context.Context, leases []*Lease) (context.Context, func()) {
	deadline := leases[0].Deadline()
	heartbeat := false
	for _, l := range leases {
		if d := l.Deadline(); d.Before(deadline) {
			deadline = d
		}
		heartbeat = heartbeat || l.o.heartbeat > 0
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
func (l *Lease) heartbeat(ctx context.Context, cancel context.CancelCauseFunc) {
	interval := l.o.heartbeat
	if interval <= 0 {
		interval = WaitForever
	}
	next := time.NewTimer(interval)
	defer next.Stop()
	for {
		deadline := time.NewTimer(time.Until(l.Deadline()))
		select {
		case <-ctx.Done():
			deadline.Stop()
			return
		case <-deadline.C:
			cancel(&LostError{LockID: l.id, Reason: "no heartbeat succeeded before the lease ended"})
			return
		case <-next.C:
		}
		deadline.Stop()
		reqCtx, cancelReq := context.WithDeadline(ctx, l.Deadline())
		err := l.Extend(reqCtx, 0)
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
