package lock_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
)

// TestHeartbeat: with a heartbeat, fn runs well past the TTL while others
// are kept out, and its context is not cancelled.
func TestHeartbeat(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const ttl = 600 * time.Millisecond
	c := e.client(lock.WithTTL(ttl), lock.WithHeartbeat(ttl/4))
	other := e.otherClient()
	err := c.Do(ctx, "beat", func(ctx context.Context) error {
		for range 8 { // 8 × 150 ms: twice the TTL
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(ttl / 4):
			}
			if _, err := other.TryAcquire(ctx, "beat"); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
				t.Errorf("another holder got in while the heartbeat ran: %v", err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.net.Count("UpdateItem"); n < 2+5 {
		t.Errorf("%d UpdateItem requests, want acquire + release + at least 5 extensions", n)
	}
}

// TestLostLockCancelsFn: when an operator force-releases the lock and
// another holder takes it, the next heartbeat cancels fn's context with
// ErrLockLost as its cause.
func TestLostLockCancelsFn(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client(lock.WithTTL(600*time.Millisecond), lock.WithHeartbeat(100*time.Millisecond))
	err := c.Do(ctx, "stolen", func(ctx context.Context) error {
		l, _ := lock.FromContext(ctx)
		in := lock.ForceReleaseInput(e.table, "stolen", l.LeaseID(), l.FencingToken(), "operator", "test", time.Now())
		// Not fn's ctx: the next heartbeat may cancel it at any moment now.
		if _, err := srv.Client().UpdateItem(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		if _, err := e.otherClient().TryAcquire(context.Background(), "stolen"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(2 * time.Second):
			return errors.New("fn's context was not cancelled")
		}
	})
	if !errors.Is(err, lock.ErrLockLost) {
		t.Fatalf("Do: %v, want fn's ErrLockLost cause", err)
	}
	if !errors.Is(err, lock.ErrLockRelease) {
		t.Errorf("Do: %v, want the failed release joined in", err)
	}
}

// TestHeartbeatOutage: when every extension fails, fn's context is
// cancelled with ErrLockLost before the lease ends less the tolerance.
func TestHeartbeatOutage(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const ttl = 400 * time.Millisecond
	c := e.client(lock.WithTTL(ttl), lock.WithHeartbeat(100*time.Millisecond))
	var outage atomic.Bool // set once fn runs; the rule is in place before the heartbeat starts
	e.net.Rule = func(r httpfault.Request) httpfault.Action {
		if outage.Load() && strings.Contains(string(r.Body), extendMarker) {
			return httpfault.Action{Kind: httpfault.ServerError}
		}
		return httpfault.Action{}
	}
	err := c.Do(ctx, "outage", func(ctx context.Context) error {
		outage.Store(true)
		l, _ := lock.FromContext(ctx)
		deadline := l.Deadline()
		<-ctx.Done()
		// The heartbeat's timer fires at the deadline; allow the scheduler
		// of a loaded machine its slack.
		if late := time.Since(deadline); late > 250*time.Millisecond {
			t.Errorf("fn's context ended %s after the lease's deadline", late)
		}
		return context.Cause(ctx)
	})
	if !errors.Is(err, lock.ErrLockLost) {
		t.Fatalf("Do: %v, want ErrLockLost", err)
	}
}

// TestDoReleasesOnPanic: a panic in fn releases the lock, then goes on.
func TestDoReleasesOnPanic(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the original panic", r)
			}
		}()
		_ = c.Do(ctx, "panics", func(context.Context) error { panic("boom") })
		t.Error("Do returned instead of panicking")
	}()
	l, err := e.otherClient().TryAcquire(ctx, "panics")
	if err != nil {
		t.Fatalf("lock not released after a panic: %v", err)
	}
	_ = l.Release(ctx)
}

// TestDoReturnsFnError: fn's error comes back as is, and the lock is
// released.
func TestDoReturnsFnError(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	boom := errors.New("boom")
	err := e.client().Do(ctx, "fails", func(context.Context) error { return boom })
	if err != boom {
		t.Fatalf("Do: %v, want fn's error itself", err)
	}
	if r := e.record("fails"); r.Held(time.Now()) || !r.Released {
		t.Errorf("lock not released after fn's error: %+v", r)
	}
}

// TestWait: by default Do fails at once on a held lock; with a wait limit
// it takes the lock once the holder releases, and gives up at the limit.
func TestWait(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	holder, err := e.otherClient().TryAcquire(ctx, "waited")
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	ran := false
	noop := func(context.Context) error { ran = true; return nil }

	e.net.Reset()
	if err := c.Do(ctx, "waited", noop); !errors.Is(err, lock.ErrLockAlreadyAcquired) || ran {
		t.Fatalf("default Do on a held lock: %v (ran %v), want ErrLockAlreadyAcquired at once", err, ran)
	}
	if n := e.net.Total(); n != 1 {
		t.Errorf("default Do made %d requests, want one attempt", n)
	}

	start := time.Now()
	if err := c.Do(ctx, "waited", noop, lock.WithWait(200*time.Millisecond)); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Fatalf("Do with a wait limit on a held lock: %v", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("gave up after %s, before the 200 ms wait limit", waited)
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(100 * time.Millisecond)
		_ = holder.Release(ctx)
	})
	if err := c.Do(ctx, "waited", noop, lock.WithWait(5*time.Second)); err != nil || !ran {
		t.Fatalf("Do waiting for a release: %v", err)
	}
	wg.Wait()

	ctx2, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := e.otherClient().TryAcquire(ctx, "waited"); err != nil {
		t.Fatal(err)
	}
	// The context ends during a sleep (the lock held: ErrLockAlreadyAcquired)
	// or, now and then, during an attempt (unknown: ErrLockAcquisition with
	// the context's error).
	_, err = c.Acquire(ctx2, "waited", lock.WithWait(lock.WaitForever))
	if !errors.Is(err, lock.ErrLockAlreadyAcquired) && !(errors.Is(err, lock.ErrLockAcquisition) && errors.Is(err, context.DeadlineExceeded)) {
		t.Errorf("Acquire until the context ends: %v", err)
	}
}

// TestAcquireAll: a set of locks is taken all or none, and two callers
// taking the same set in opposite orders both finish.
func TestAcquireAll(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()
	blocker, err := e.otherClient().TryAcquire(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireAll(ctx, []string{"a", "b", "c"}); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Fatalf("AcquireAll with one held: %v", err)
	}
	for _, id := range []string{"a", "c"} {
		if r := e.record(id); r.Held(time.Now()) {
			t.Errorf("%s left held after a failed AcquireAll", id)
		}
	}
	_ = blocker.Release(ctx)

	var wg sync.WaitGroup
	for _, ids := range [][]string{{"x", "y", "z"}, {"z", "y", "x"}, {"y", "x"}} {
		wg.Go(func() {
			for range 5 {
				err := c.DoAll(ctx, ids, func(ctx context.Context) error {
					if n := len(lock.AllFromContext(ctx)); n != len(ids) {
						t.Errorf("%d leases in fn's context, want %d", n, len(ids))
					}
					time.Sleep(2 * time.Millisecond)
					return nil
				}, lock.WithWait(10*time.Second), lock.WithRetryInterval(2*time.Millisecond, 20*time.Millisecond))
				if err != nil {
					t.Errorf("DoAll %v: %v", ids, err)
				}
			}
		})
	}
	wg.Wait()
}
