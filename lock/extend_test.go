package lock_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
)

// extendMarker is in the body of an extend request and no other.
const extendMarker = `#exp = :exp, #ttl = :ttl"` // in an extend's body only

// TestExtendNeverShortens: Extend with a TTL shorter than what is left
// keeps the later end, in the item and in Deadline, so no other holder
// enters while fn's context (which keeps its deadline) still runs.
func TestExtendNeverShortens(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const id = "shorten"
	c := e.client(lock.Config{TTL: 3 * time.Second})
	other := e.otherClient(lock.Config{})
	err := c.Lock(id).Do(ctx, func(ctx context.Context) error {
		l, _ := lock.FromContext(ctx)
		before, deadline := e.record(id).ExpiresAt, l.Deadline()
		if err := l.Extend(ctx, 100*time.Millisecond); err != nil {
			return err
		}
		if got := e.record(id).ExpiresAt; got.Before(before) {
			t.Errorf("extend moved the stored lease end from %s back to %s", before, got)
		}
		if got := l.Deadline(); got.Before(deadline) {
			t.Errorf("extend moved Deadline from %s back to %s", deadline, got)
		}
		time.Sleep(300 * time.Millisecond) // past the shorter end, plus the tolerance twice
		if ctx.Err() != nil {
			t.Fatalf("fn's context ended early: %v", context.Cause(ctx))
		}
		if o, err := other.Lock(id).Acquire(ctx); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
			if err == nil {
				_ = o.Release(ctx)
			}
			t.Errorf("another holder got in while fn's context runs: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStaleExtendLandsLate: an extend that lands after a later one (its
// caller gave up on it) does not move the stored end backwards.
func TestStaleExtendLandsLate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const id = "stale-extend"
	l, err := e.client(lock.Config{TTL: time.Second}).Lock(id).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	late := true
	e.net.Rule = func(r httpfault.Request) httpfault.Action {
		if late && strings.Contains(string(r.Body), extendMarker) {
			late = false
			return httpfault.Action{Kind: httpfault.LandLate, Delay: 300 * time.Millisecond}
		}
		return httpfault.Action{}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err = l.Extend(short, 3*time.Second)
	cancel()
	if err == nil {
		t.Fatal("extend whose caller gave up succeeded")
	}
	if err := l.Extend(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	want := e.record(id).ExpiresAt
	e.net.WaitLate()
	if got := e.record(id).ExpiresAt; got.Before(want) {
		t.Errorf("a stale extend moved the stored end back from %s to %s", want, got)
	}
	if err := l.Extend(ctx, 0); err != nil {
		t.Errorf("extend after a stale one was refused: %v", err)
	}
}

// TestAbandonedAcquireIsBounded: an acquire whose caller gave up while it
// was in flight (so its clean-up found nothing) lands later and takes the
// free lock, with no holder. The lock is then held by nobody only until
// the end that request carried, computed when it was built (the TTL from
// then), plus the tolerance: like a crashed holder's.
func TestAbandonedAcquireIsBounded(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const id = "abandoned"
	const ttl, tol = 600 * time.Millisecond, 20 * time.Millisecond
	late := true
	e.net.Rule = func(r httpfault.Request) httpfault.Action {
		if late && strings.Contains(string(r.Body), "if_not_exists") {
			late = false
			return httpfault.Action{Kind: httpfault.LandLate, Delay: 200 * time.Millisecond}
		}
		return httpfault.Action{}
	}
	built := time.Now()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := e.client(lock.Config{TTL: ttl}).Lock(id).Acquire(short)
	cancel()
	if !errors.Is(err, lock.ErrLockAcquisition) || errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Fatalf("abandoned acquire: %v, want ErrLockAcquisition", err)
	}
	e.net.WaitLate()
	r := e.record(id)
	if !r.Held(time.Now()) {
		t.Fatalf("the late request did not take the free lock: %+v", r)
	}
	if limit := built.Add(ttl + 5*time.Millisecond); r.ExpiresAt.After(limit) {
		t.Errorf("the abandoned lease ends %s, after its request's build time plus the TTL %s", r.ExpiresAt, limit)
	}
	w := e.otherClient(lock.Config{})
	l, err := w.Lock(id).Acquire(ctx, lock.WithWait(5*time.Second))
	if err != nil {
		t.Fatalf("waiter did not get the abandoned lock: %v", err)
	}
	defer l.Release(ctx)
	if by := r.ExpiresAt.Add(tol + 300*time.Millisecond); time.Now().After(by) {
		t.Errorf("waiter got the lock at %s, later than the abandoned lease's end + tolerance + a wait step (%s)", time.Now(), by)
	}
}

// TestExtendFixedEnd: a lease taken with WithLeaseEnd is never extended
// past that end. An extension that would pass it (Extend(ctx, 0), whose
// TTL is the one the acquire sized to the end, or any longer TTL) is
// refused with ErrInvalidInput before any request, and the stored end and
// Deadline stay; one that ends by the fixed end is not an error and
// changes nothing (an extend never shortens a lease).
func TestExtendFixedEnd(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const id = "fixed-end"
	end := time.Now().Add(3 * time.Second)
	l, err := e.client(lock.Config{}).Lock(id).Acquire(ctx, lock.WithLeaseEnd(end))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	stored, deadline := e.record(id).ExpiresAt, l.Deadline()
	for _, tc := range []struct {
		name    string
		ttl     time.Duration
		wantErr error
	}{
		{"the lease's TTL (0)", 0, lock.ErrInvalidInput},
		{"longer than what is left", time.Minute, lock.ErrInvalidInput},
		{"just past the end", time.Until(end).Truncate(time.Millisecond) + 50*time.Millisecond, lock.ErrInvalidInput},
		{"within what is left", time.Second, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.net.Reset()
			err := l.Extend(ctx, tc.ttl)
			if tc.wantErr == nil && err != nil || !errors.Is(err, tc.wantErr) {
				t.Errorf("Extend(%s) with %s left before the lease's fixed end: %v, want %v", tc.ttl, time.Until(end).Round(time.Millisecond), err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if n := e.net.Total(); n != 0 {
					t.Errorf("a refused extend sent %d requests", n)
				}
				if !strings.Contains(fmt.Sprint(err), "WithLeaseEnd") {
					t.Errorf("the error does not say why: %v", err)
				}
			}
			if got := e.record(id).ExpiresAt; !got.Equal(stored) || got.After(end.Add(2*time.Millisecond)) {
				t.Errorf("the stored end moved from %s to %s (fixed end %s)", stored, got, end)
			}
			if got := l.Deadline(); !got.Equal(deadline) {
				t.Errorf("Deadline moved from %s to %s", deadline, got)
			}
		})
	}
}
