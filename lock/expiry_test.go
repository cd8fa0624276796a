package lock_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/lock"
)

// TestTakeoverAfterExpiry: a crashed holder's lock is taken over once its
// lease and the tolerance have passed, not before; the stale holder can
// neither release nor extend its successor's lock; tokens go up.
func TestTakeoverAfterExpiry(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const ttl, tol = 400 * time.Millisecond, 20 * time.Millisecond
	stale := e.client(lock.Config{TTL: ttl, Owner: "stale"})
	next := e.otherClient(lock.Config{Owner: "next"})

	old, err := stale.Lock("job").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = next.Lock("job").Acquire(ctx)
	var held *lock.HeldError
	if !errors.As(err, &held) || !errors.Is(err, lock.ErrLockAcquisition) || !errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Fatalf("acquire of a held lock: %v, want a HeldError matching both sentinels", err)
	}
	if held.Holder.Owner != "stale" || held.Holder.Token != old.FencingToken() || held.LockID != "job" {
		t.Errorf("HeldError names %+v, want the stale holder with token %d", held.Holder, old.FencingToken())
	}
	if until := time.Until(held.Holder.ExpiresAt); until <= 0 || until > ttl {
		t.Errorf("holder's lease ends in %s, want within (0, %s]", until, ttl)
	}

	time.Sleep(time.Until(held.Holder.ExpiresAt.Add(tol + 10*time.Millisecond)))
	cur, err := next.Lock("job").Acquire(ctx)
	if err != nil {
		t.Fatalf("takeover after the lease and tolerance: %v", err)
	}
	if cur.FencingToken() <= old.FencingToken() {
		t.Errorf("takeover token %d not above %d", cur.FencingToken(), old.FencingToken())
	}

	err = old.Release(ctx)
	if !errors.Is(err, lock.ErrLockRelease) || !errors.Is(err, lock.ErrLockLost) {
		t.Errorf("stale release: %v, want ErrLockRelease and ErrLockLost", err)
	}
	if !strings.Contains(fmt.Sprint(err), `now held by "next"`) {
		t.Errorf("stale release should name the new holder: %v", err)
	}
	if err := old.Extend(ctx, 0); !errors.Is(err, lock.ErrLockLost) {
		t.Errorf("stale extend: %v, want ErrLockLost", err)
	}
	if r := e.record("job"); r.LeaseID != cur.LeaseID() || !r.Held(time.Now()) {
		t.Errorf("the new holder's lock was disturbed: %+v", r)
	}
	if err := cur.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestReleaseTwice: a second release, as after a lost response, is not an
// error, and a released lock is free at once.
func TestReleaseTwice(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client(lock.Config{})
	l, err := c.Lock("twice").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := l.Release(ctx); err != nil {
			t.Fatalf("release %d: %v", i+1, err)
		}
	}
	l2, err := e.otherClient(lock.Config{}).Lock("twice").Acquire(ctx)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if err := l.Extend(ctx, 0); !errors.Is(err, lock.ErrLockLost) {
		t.Errorf("extend of a released lease: %v, want ErrLockLost", err)
	}
	if err := l2.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestFencingTokens: tokens of one lock ID strictly increase across
// releases, expiries and the item's deletion (as by the TTL clean-up).
func TestFencingTokens(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client(lock.Config{TTL: 100 * time.Millisecond})
	var last int64
	next := func(step string) *lock.Lease {
		t.Helper()
		l, err := c.Lock("fenced").Acquire(ctx, lock.WithWait(time.Second))
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if l.FencingToken() <= last {
			t.Fatalf("%s: token %d not above %d", step, l.FencingToken(), last)
		}
		last = l.FencingToken()
		return l
	}
	l := next("first")
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	next("after release")
	time.Sleep(150 * time.Millisecond)
	l = next("after expiry")
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := srv.Client().DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(e.table),
		Key: shape.Table.Key("fenced")})
	if err != nil {
		t.Fatal(err)
	}
	next("after the item's deletion")
}

// TestDeadline: fn's context ends no later than the lease's end less the
// tolerance, as stored in the item.
func TestDeadline(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const ttl, tol = 2 * time.Second, 300 * time.Millisecond
	c := e.client(lock.Config{TTL: ttl, ClockSkewTolerance: tol})
	err := c.Lock("deadline").Do(ctx, func(ctx context.Context) error {
		deadline, ok := ctx.Deadline()
		if !ok {
			t.Fatal("fn's context has no deadline")
		}
		stored := e.record("deadline").ExpiresAt
		if latest := stored.Add(-tol); deadline.After(latest) {
			t.Errorf("deadline %s is after the lease's end less the tolerance %s", deadline, latest)
		}
		if deadline.Before(stored.Add(-tol - 200*time.Millisecond)) {
			t.Errorf("deadline %s is needlessly early (lease ends %s)", deadline, stored)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
