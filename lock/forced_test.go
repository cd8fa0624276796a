package lock_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
)

// forceRelease releases id's current lease as an operator's tool does:
// it reads the item and sends ForceReleaseInput with the lease and token
// it saw.
func (e *env) forceRelease(id string) admin.Record {
	e.t.Helper()
	ctx := context.Background()
	r := e.record(id)
	in := shape.Table.ForceReleaseInput(e.table, id, r.LeaseID, r.Token, "operator", "test", time.Now())
	if _, err := srv.Client().UpdateItem(ctx, in); err != nil {
		e.t.Fatalf("force-release of %q: %v", id, err)
	}
	return r
}

// TestForceReleaseDuringRetriedAcquire: an acquire's first attempt is
// applied and its answer lost; during the SDK's backoff an operator
// force-releases that lease; then the SDK's retry lands. The caller must
// not be handed a lease from an item that says it is released: if it gets
// a lease, nobody else may get one until it ends.
func TestForceReleaseDuringRetriedAcquire(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const id = "forced-during-retry"
	attempts := 0
	e.net.Rule = func(r httpfault.Request) httpfault.Action {
		if r.Op != "UpdateItem" || !strings.Contains(string(r.Body), "if_not_exists") {
			return httpfault.Action{}
		}
		attempts++
		switch attempts {
		case 1:
			return httpfault.Action{Kind: httpfault.DropResponse}
		case 2: // the SDK's retry: first the operator releases what it finds
			e.forceRelease(id)
		}
		return httpfault.Action{}
	}
	l, err := e.client(lock.Config{TTL: time.Minute}).Lock(id).Acquire(ctx)
	e.net.Rule = nil
	if attempts < 2 {
		t.Fatalf("%d acquire attempts, want a retry", attempts)
	}
	if err == nil {
		defer l.Release(ctx)
		if r := e.record(id); r.LeaseID != l.LeaseID() || !r.Held(time.Now()) {
			t.Errorf("handed out lease %s from an item that is not held by it: %+v", l.LeaseID(), r)
		}
		if other, err := e.otherClient(lock.Config{}).Lock(id).Acquire(ctx); err == nil {
			t.Fatalf("two holders: lease %s (token %d) and lease %s (token %d)", l.LeaseID(), l.FencingToken(), other.LeaseID(), other.FencingToken())
		}
		return
	}
	if !errors.Is(err, lock.ErrLockAcquisition) || errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Errorf("acquire whose lease was force-released before its answer: %v, want ErrLockAcquisition, not held", err)
	}
	if _, err := e.otherClient(lock.Config{}).Lock(id).Acquire(ctx); err != nil {
		t.Errorf("the force-released lock is not free: %v", err)
	}
}

// TestEveryForcedLeaseIsLost: after two force-releases (A's lease, then
// B's), A's Release reports ErrLockLost: every force-released lease is
// lost to its holder, not only the last one.
func TestEveryForcedLeaseIsLost(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const id = "forced-twice"
	a, err := e.client(lock.Config{TTL: time.Minute}).Lock(id).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.forceRelease(id)
	b, err := e.otherClient(lock.Config{TTL: time.Minute}).Lock(id).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.forceRelease(id)
	if err := a.Release(ctx); !errors.Is(err, lock.ErrLockLost) || !errors.Is(err, lock.ErrLockRelease) {
		t.Errorf("release of the first force-released lease: %v, want ErrLockLost", err)
	}
	if err := b.Release(ctx); !errors.Is(err, lock.ErrLockLost) {
		t.Errorf("release of the second force-released lease: %v, want ErrLockLost", err)
	}
	if err := a.Extend(ctx, 0); !errors.Is(err, lock.ErrLockLost) {
		t.Errorf("extend of a force-released lease: %v, want ErrLockLost", err)
	}
}

// TestLostReleaseRetriedAfterLeaseEnd: the release goes through and its
// answer is lost; the lock changes hands twice within the lease; the SDK's
// retry lands after the lease's local end. The holder released in time,
// so it must not be reported lost; but by then the item (which keeps one
// lease, not a history) looks the same as after an expiry and two
// takeovers, so Release says the outcome is unknown.
func TestLostReleaseRetriedAfterLeaseEnd(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const id = "late-retry"
	const ttl = 300 * time.Millisecond
	l, err := e.client(lock.Config{TTL: ttl}).Lock(id).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other := e.otherClient(lock.Config{TTL: time.Minute})
	var next *lock.Lease
	var otherErr error
	dropped := false
	e.net.Rule = func(r httpfault.Request) httpfault.Action {
		if !dropped && strings.Contains(string(r.Body), "ReleasedAt") {
			dropped = true
			return httpfault.Action{Kind: httpfault.DropResponse}
		}
		if dropped && next == nil && otherErr == nil {
			var first *lock.Lease
			if first, otherErr = other.Lock(id).Acquire(ctx); otherErr == nil {
				if otherErr = first.Release(ctx); otherErr == nil {
					next, otherErr = other.Lock(id).Acquire(ctx)
				}
			}
			time.Sleep(time.Until(l.Deadline()) + 2*ttl) // the retry lands after the lease's end
		}
		return httpfault.Action{}
	}
	err = l.Release(ctx)
	e.net.Rule = nil
	if otherErr != nil || next == nil {
		t.Fatalf("the other holder did not get in between the attempts: %v", otherErr)
	}
	defer next.Release(ctx)
	if errors.Is(err, lock.ErrLockLost) || !errors.Is(err, lock.ErrReleaseUnknown) || !errors.Is(err, lock.ErrLockRelease) {
		t.Errorf("release that went through in time, retried after the lease's end: %v, want ErrReleaseUnknown, not ErrLockLost", err)
	}
}

// TestRetriedReleaseJudged: a release whose first attempt may have gone
// through (no answer) is retried after the lock changed hands. Where the
// item tells what happened, Release says it; where it cannot, Release says
// the outcome is unknown, never a false loss or a false success.
func TestRetriedReleaseJudged(t *testing.T) {
	const ttl = 300 * time.Millisecond
	tests := []struct {
		name  string
		fault httpfault.Kind // of the release's first attempt
		// between runs before the retry; l is the first holder's lease.
		between func(e *env, l *lock.Lease, other *lock.Client) error
		want    error // nil: success
	}{
		{"released, then two handoffs after the lease's end", httpfault.DropResponse, func(e *env, l *lock.Lease, other *lock.Client) error {
			if err := handoff(other, l.LockID()); err != nil {
				return err
			}
			time.Sleep(time.Until(l.Deadline()) + 2*ttl)
			_, err := other.Lock(l.LockID()).Acquire(context.Background())
			return err
		}, lock.ErrReleaseUnknown},
		{"not sent, force-released, taken over", httpfault.ResetBeforeSend, func(e *env, l *lock.Lease, other *lock.Client) error {
			e.forceRelease(l.LockID())
			_, err := other.Lock(l.LockID()).Acquire(context.Background())
			return err
		}, lock.ErrLockLost},
		{"not sent, force-released twice", httpfault.ResetBeforeSend, func(e *env, l *lock.Lease, other *lock.Client) error {
			e.forceRelease(l.LockID())
			if _, err := other.Lock(l.LockID()).Acquire(context.Background()); err != nil {
				return err
			}
			e.forceRelease(l.LockID())
			_, err := other.Lock(l.LockID()).Acquire(context.Background())
			return err
		}, lock.ErrReleaseUnknown},
		{"released, then another lease force-released", httpfault.DropResponse, func(e *env, l *lock.Lease, other *lock.Client) error {
			if _, err := other.Lock(l.LockID()).Acquire(context.Background()); err != nil {
				return err
			}
			e.forceRelease(l.LockID())
			_, err := other.Lock(l.LockID()).Acquire(context.Background())
			return err
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			id := "judged"
			l, err := e.client(lock.Config{TTL: ttl}).Lock(id).Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			other := e.otherClient(lock.Config{TTL: time.Minute})
			faulted, betweenDone := false, false
			var betweenErr error
			e.net.Rule = func(r httpfault.Request) httpfault.Action {
				if !strings.Contains(string(r.Body), "ReleasedAt") || !strings.Contains(string(r.Body), l.LeaseID()) {
					return httpfault.Action{}
				}
				if !faulted {
					faulted = true
					return httpfault.Action{Kind: tt.fault}
				}
				if !betweenDone {
					betweenDone = true
					betweenErr = tt.between(e, l, other)
				}
				return httpfault.Action{}
			}
			err = l.Release(ctx)
			e.net.Rule = nil
			if betweenErr != nil || !betweenDone {
				t.Fatalf("the lock did not change hands before the retry: %v", betweenErr)
			}
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("release: %v, want success", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("release: %v, want %v", err, tt.want)
			case errors.Is(err, lock.ErrReleaseUnknown) && errors.Is(err, lock.ErrLockLost):
				t.Errorf("release: %v matches both ErrReleaseUnknown and ErrLockLost", err)
			case err != nil && !errors.Is(err, lock.ErrLockRelease):
				t.Errorf("release: %v does not match ErrLockRelease", err)
			}
		})
	}
}

// handoff lets other take id and release it.
func handoff(other *lock.Client, id string) error {
	ctx := context.Background()
	l, err := other.Lock(id).Acquire(ctx)
	if err != nil {
		return err
	}
	return l.Release(ctx)
}

// optionsDropped is a DynamoDBAPI that does not pass per-call options on,
// as a user's wrapper might.
type optionsDropped struct{ lock.DynamoDBAPI }

func (d optionsDropped) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return d.DynamoDBAPI.UpdateItem(ctx, in)
}

// TestForcedLeaseWithOpaqueClient: with a client that hides the SDK's
// attempts, a release of a twice force-released lease cannot be judged,
// and Release says so rather than claim success.
func TestForcedLeaseWithOpaqueClient(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const id = "opaque"
	c := e.clientOn(optionsDropped{e.db}, lock.Config{})
	a, err := c.Lock(id).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.forceRelease(id)
	if _, err := e.otherClient(lock.Config{}).Lock(id).Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	e.forceRelease(id)
	if err := a.Release(ctx); err == nil || !errors.Is(err, lock.ErrLockRelease) {
		t.Errorf("release of a force-released lease through an opaque client: %v, want a release error", err)
	}
}
