package lock_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// TestHeartbeat: with a heartbeat, fn runs well past the TTL while others
// are kept out, and its context is not cancelled.
func TestHeartbeat(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const ttl = 600 * time.Millisecond
	c := e.client(lock.Config{TTL: ttl, Heartbeat: ttl / 4})
	other := e.otherClient(lock.Config{})
	err := c.Lock("beat").Do(ctx, func(ctx context.Context) error {
		for range 8 { // 8 × 150 ms: twice the TTL
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(ttl / 4):
			}
			if _, err := other.Lock("beat").Acquire(ctx); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
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
	c := e.client(lock.Config{TTL: 600 * time.Millisecond, Heartbeat: 100 * time.Millisecond})
	err := c.Lock("stolen").Do(ctx, func(ctx context.Context) error {
		l, _ := lock.FromContext(ctx)
		in := shape.Table.ForceReleaseInput(e.table, "stolen", l.LeaseID(), l.FencingToken(), "operator", "test", time.Now())
		// Not fn's ctx: the next heartbeat may cancel it at any moment now.
		if _, err := srv.Client().UpdateItem(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		if _, err := e.otherClient(lock.Config{}).Lock("stolen").Acquire(context.Background()); err != nil {
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
	c := e.client(lock.Config{TTL: ttl, Heartbeat: 100 * time.Millisecond})
	var outage atomic.Bool // set once fn runs; the rule is in place before the heartbeat starts
	e.net.Rule = func(r httpfault.Request) httpfault.Action {
		if outage.Load() && strings.Contains(string(r.Body), extendMarker) {
			return httpfault.Action{Kind: httpfault.ServerError}
		}
		return httpfault.Action{}
	}
	err := c.Lock("outage").Do(ctx, func(ctx context.Context) error {
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
	c := e.client(lock.Config{})
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the original panic", r)
			}
		}()
		_ = c.Lock("panics").Do(ctx, func(context.Context) error { panic("boom") })
		t.Error("Do returned instead of panicking")
	}()
	l, err := e.otherClient(lock.Config{}).Lock("panics").Acquire(ctx)
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
	err := e.client(lock.Config{}).Lock("fails").Do(ctx, func(context.Context) error { return boom })
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
	holder, err := e.otherClient(lock.Config{}).Lock("waited").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(lock.Config{})
	ran := false
	noop := func(context.Context) error { ran = true; return nil }

	e.net.Reset()
	if err := c.Lock("waited").Do(ctx, noop); !errors.Is(err, lock.ErrLockAlreadyAcquired) || ran {
		t.Fatalf("default Do on a held lock: %v (ran %v), want ErrLockAlreadyAcquired at once", err, ran)
	}
	if n := e.net.Total(); n != 1 {
		t.Errorf("default Do made %d requests, want one attempt", n)
	}

	start := time.Now()
	if err := c.Lock("waited").Do(ctx, noop, lock.WithWait(200*time.Millisecond)); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
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
	if err := c.Lock("waited").Do(ctx, noop, lock.WithWait(5*time.Second)); err != nil || !ran {
		t.Fatalf("Do waiting for a release: %v", err)
	}
	wg.Wait()

	ctx2, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := e.otherClient(lock.Config{}).Lock("waited").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	// The context ends during a sleep (the lock held: ErrLockAlreadyAcquired)
	// or, now and then, during an attempt (unknown: ErrLockAcquisition with
	// the context's error).
	_, err = c.Lock("waited").Acquire(ctx2, lock.WithWait(lock.WaitForever))
	if !errors.Is(err, lock.ErrLockAlreadyAcquired) && !(errors.Is(err, lock.ErrLockAcquisition) && errors.Is(err, context.DeadlineExceeded)) {
		t.Errorf("Acquire until the context ends: %v", err)
	}
}

// TestSeveralIDs: the lock of several IDs is taken all or none, and
// callers taking the same IDs in any order (an ID given twice is taken
// once) all finish. fn's lease holds every ID, under one lease ID.
func TestSeveralIDs(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client(lock.Config{})
	blocker, err := e.otherClient(lock.Config{}).Lock("b").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock("a", "b", "c").Acquire(ctx); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Fatalf("Acquire of a, b, c with b held: %v", err)
	}
	for _, id := range []string{"a", "c"} {
		if r := e.record(id); r.Held(time.Now()) {
			t.Errorf("%s left held after a failed Acquire", id)
		}
	}
	_ = blocker.Release(ctx)

	var wg sync.WaitGroup
	for _, ids := range [][]string{{"x", "y", "z"}, {"z", "y", "x"}, {"y", "x", "y"}} {
		wg.Go(func() {
			for range 5 {
				err := c.Lock(ids...).Do(ctx, func(ctx context.Context) error {
					l, _ := lock.FromContext(ctx)
					tokens := l.Tokens()
					for _, id := range ids {
						if r := e.record(id); tokens[id] == 0 || r.LeaseID != l.LeaseID() || r.Token != tokens[id] {
							t.Errorf("fn's lease %s (tokens %v) does not hold %s: %+v", l.LeaseID(), tokens, id, r)
						}
					}
					if len(tokens) != len(sortedSet(ids)) || l.LockID() != "" || l.FencingToken() != 0 {
						t.Errorf("lease of %v: tokens %v, lock ID %q, fencing token %d; want one token per ID, no lock ID, token 0",
							ids, tokens, l.LockID(), l.FencingToken())
					}
					time.Sleep(2 * time.Millisecond)
					return nil
				}, lock.WithWait(10*time.Second), lockopt.RetryInterval(2*time.Millisecond, 20*time.Millisecond))
				if err != nil {
					t.Errorf("Do %v: %v", ids, err)
				}
			}
		})
	}
	wg.Wait()
}

// sortedSet returns ids sorted, each once.
func sortedSet(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return slices.Compact(ids)
}
