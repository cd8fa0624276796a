package lock_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
)

// TestLeaseEnd: with WithLeaseEnd every attempt sizes its lease to end at
// the given time, also a waiter's that gets in late; too close to it, the
// attempt fails with ErrLeaseTooShort before any request.
func TestLeaseEnd(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	holder, err := e.otherClient(lock.WithTTL(time.Minute)).TryAcquire(ctx, "ends")
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(3 * time.Second)
	go func() {
		time.Sleep(time.Second)
		_ = holder.Release(ctx)
	}()
	l, err := e.client(lock.WithLeaseEnd(end), lock.WithWait(5*time.Second)).Acquire(ctx, "ends")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	stored := e.record("ends").ExpiresAt
	if d := stored.Sub(end); d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("the lease taken after a 1 s wait ends %s from the lease end asked for", d)
	}
	e.net.Reset()
	_, err = e.client(lock.WithLeaseEnd(time.Now().Add(30*time.Millisecond))).TryAcquire(ctx, "too-late")
	if !errors.Is(err, lock.ErrLeaseTooShort) || !errors.Is(err, lock.ErrLockAcquisition) {
		t.Errorf("acquire 30 ms before the lease's end: %v, want ErrLeaseTooShort", err)
	}
	if n := e.net.Total(); n != 0 {
		t.Errorf("%d requests for a lease too short to give", n)
	}
	if _, err := e.client().TryAcquire(ctx, "x", lock.WithLeaseEnd(end), lock.WithHeartbeat(time.Second)); !errors.Is(err, lock.ErrInvalidInput) {
		t.Errorf("a lease end with a heartbeat: %v, want ErrInvalidInput", err)
	}
}

// TestReleaseDeadline: a release on a slow connection ends by the release
// deadline, not the release timeout, so a caller that must return by a
// deadline does.
func TestReleaseDeadline(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	by := time.Now().Add(300 * time.Millisecond)
	c := e.client(lock.WithReleaseTimeout(10*time.Second), lock.WithReleaseDeadline(by))
	e.net.Rule = func(r httpfault.Request) httpfault.Action {
		if strings.Contains(string(r.Body), "ReleasedAt") {
			return httpfault.Action{Delay: 3 * time.Second}
		}
		return httpfault.Action{}
	}
	err := c.Do(ctx, "slow-release", func(context.Context) error { return nil })
	if !errors.Is(err, lock.ErrLockRelease) {
		t.Errorf("Do with a release slower than its deadline: %v, want ErrLockRelease", err)
	}
	if late := time.Since(by); late > 250*time.Millisecond {
		t.Errorf("Do returned %s after the release deadline", late)
	}
}
