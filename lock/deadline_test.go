package lock_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// TestLeaseEnd: with WithLeaseEnd every attempt sizes its lease to end at
// the given time, also a waiter's that gets in late; too close to it, the
// attempt fails with ErrLeaseTooShort before any request. A lease with a
// fixed end has no heartbeat, whatever the client's Config says: fn's
// context ends before that end, and nothing extends the lease past it.
func TestLeaseEnd(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	holder, err := e.otherClient(lock.Config{TTL: time.Minute}).Lock("ends").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(3 * time.Second)
	go func() {
		time.Sleep(time.Second)
		_ = holder.Release(ctx)
	}()
	l, err := e.client(lock.Config{}).Lock("ends").Acquire(ctx, lock.WithLeaseEnd(end), lock.WithWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	stored := e.record("ends").ExpiresAt
	if d := stored.Sub(end); d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("the lease taken after a 1 s wait ends %s from the lease end asked for", d)
	}
	e.net.Reset()
	_, err = e.client(lock.Config{}).Lock("too-late").Acquire(ctx, lock.WithLeaseEnd(time.Now().Add(30*time.Millisecond)))
	if !errors.Is(err, lockopt.ErrLeaseTooShort) || !errors.Is(err, lock.ErrLockAcquisition) {
		t.Errorf("acquire 30 ms before the lease's end: %v, want ErrLeaseTooShort", err)
	}
	if n := e.net.Total(); n != 0 {
		t.Errorf("%d requests for a lease too short to give", n)
	}

	const beat = 50 * time.Millisecond
	fixed := time.Now().Add(time.Second)
	e.net.Reset()
	err = e.client(lock.Config{TTL: time.Minute, Heartbeat: beat}).Lock("fixed").Do(ctx, func(ctx context.Context) error {
		// The lease's TTL is rounded up to the millisecond.
		if d, ok := ctx.Deadline(); !ok || d.After(fixed.Add(-testSkew+time.Millisecond)) {
			t.Errorf("fn's context ends at %s (%v), want by the fixed end less the tolerance, %s", d, ok, fixed.Add(-testSkew))
		}
		time.Sleep(6 * beat) // several heartbeats, were there one
		if got := e.record("fixed").ExpiresAt; got.After(fixed.Add(2 * time.Millisecond)) {
			t.Errorf("the lease of fixed end %s was extended to %s", fixed, got)
		}
		return nil
	}, lock.WithLeaseEnd(fixed))
	if err != nil {
		t.Fatal(err)
	}
	if n := e.net.Count("UpdateItem"); n != 2 {
		t.Errorf("%d UpdateItem requests, want the acquire and the release: a lease with a fixed end has no heartbeat", n)
	}
}

// TestReleaseDeadline: a release on a slow connection ends by the release
// deadline, not the release timeout, so a caller that must return by a
// deadline does.
func TestReleaseDeadline(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	by := time.Now().Add(300 * time.Millisecond)
	c := e.client(lock.Config{})
	e.net.Rule = func(r httpfault.Request) httpfault.Action {
		if strings.Contains(string(r.Body), "ReleasedAt") {
			return httpfault.Action{Delay: 3 * time.Second}
		}
		return httpfault.Action{}
	}
	err := c.Lock("slow-release").Do(ctx, func(context.Context) error { return nil },
		lockopt.ReleaseTimeout(10*time.Second), lockopt.ReleaseBy(by))
	if !errors.Is(err, lock.ErrLockRelease) {
		t.Errorf("Do with a release slower than its deadline: %v, want ErrLockRelease", err)
	}
	if late := time.Since(by); late > 250*time.Millisecond {
		t.Errorf("Do returned %s after the release deadline", late)
	}
}
