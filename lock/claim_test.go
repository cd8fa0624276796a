package lock_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/lock"
)

// TestClaim: a claim lets the work run once: a duplicate in progress finds
// it held, a duplicate after completion gets the stored result, and a
// claim released without completing lets a retry run.
func TestClaim(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()
	const id = "event/1"
	first, err := c.Claim(ctx, id, []byte("body"))
	if err != nil || first.Lease == nil || first.Done != nil {
		t.Fatalf("first claim: %+v, %v; want a lease", first, err)
	}
	if _, err := e.otherClient().Claim(ctx, id, []byte("body")); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Errorf("duplicate in progress: %v, want ErrLockAlreadyAcquired", err)
	}
	e.net.Reset()
	if err := first.Lease.Complete(ctx, []byte(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	dup, err := e.client().Claim(ctx, id, []byte("body"))
	if err != nil || dup.Lease != nil || dup.Done == nil {
		t.Fatalf("duplicate after completion: %+v, %v; want the completion", dup, err)
	}
	if !bytes.Equal(dup.Done.Result, []byte(`{"ok":true}`)) || dup.Done.ExpiresAt.Sub(dup.Done.CompletedAt) != lock.DefaultCompletionExpiry {
		t.Errorf("completion %+v, want the stored result, valid for %s", dup.Done, lock.DefaultCompletionExpiry)
	}
	if n := e.net.Total(); n != 2 {
		t.Errorf("complete + duplicate claim took %d requests, want 2", n)
	}
	if err := first.Lease.Release(ctx); err != nil {
		t.Errorf("Release after Complete: %v", err)
	}

	// Released without completing: the retry runs.
	failed, err := c.Claim(ctx, "event/2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := failed.Lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if retry, err := c.Claim(ctx, "event/2", nil); err != nil || retry.Lease == nil {
		t.Errorf("claim after a release without completion: %+v, %v; want a lease", retry, err)
	}
}

// TestClaimExpiry: a completion answers duplicates until its expiry, by
// the stored time; then the work may run again, and the old result is
// gone from the item.
func TestClaimExpiry(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client(lock.WithCompletionExpiry(300 * time.Millisecond))
	cl, err := c.Claim(ctx, "expiring", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Lease.Complete(ctx, []byte("r")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	again, err := c.Claim(ctx, "expiring", nil)
	if err != nil || again.Lease == nil {
		t.Fatalf("claim after the completion expired: %+v, %v; want a lease", again, err)
	}
	if r := e.record("expiring"); r.Result != nil || !r.DoneUntil.IsZero() {
		t.Errorf("new claim kept the old completion: %+v", r)
	}
}

// TestClaimPayload: a key claimed with one payload and claimed again with
// another fails with ErrPayloadMismatch, in progress or completed.
func TestClaimPayload(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()
	cl, err := c.Claim(ctx, "payload", []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Claim(ctx, "payload", []byte("b")); !errors.Is(err, lock.ErrPayloadMismatch) {
		t.Errorf("in progress, other payload: %v, want ErrPayloadMismatch", err)
	}
	if err := cl.Lease.Complete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Claim(ctx, "payload", []byte("b")); !errors.Is(err, lock.ErrPayloadMismatch) {
		t.Errorf("completed, other payload: %v, want ErrPayloadMismatch", err)
	}
	if dup, err := c.Claim(ctx, "payload", []byte("a")); err != nil || dup.Done == nil || dup.Done.Result != nil {
		t.Errorf("completed, same payload: %+v, %v; want the completion with no result", dup, err)
	}
}

// TestCompleteFails: Complete refuses what it cannot store, and a lost
// claim stores nothing.
func TestCompleteFails(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client(lock.WithTTL(time.Minute))
	cl, err := c.Claim(ctx, "big", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Lease.Complete(ctx, make([]byte, lock.MaxResultBytes+1)); !errors.Is(err, lock.ErrInvalidInput) || !strings.Contains(err.Error(), "reference") {
		t.Errorf("too large a result: %v, want ErrInvalidInput saying what to do", err)
	}
	plain, err := c.TryAcquire(ctx, "plain")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Release(ctx)
	if err := plain.Complete(ctx, nil); !errors.Is(err, lock.ErrInvalidInput) {
		t.Errorf("Complete of a plain lease: %v, want ErrInvalidInput", err)
	}
	e.forceRelease("big")
	if err := cl.Lease.Complete(ctx, []byte("r")); !errors.Is(err, lock.ErrLockLost) {
		t.Errorf("Complete of a force-released claim: %v, want ErrLockLost", err)
	}
	if r := e.record("big"); r.Result != nil || !r.DoneUntil.IsZero() {
		t.Errorf("a lost claim stored a completion: %+v", r)
	}
	if again, err := c.Claim(ctx, "big", nil); err != nil || again.Lease == nil {
		t.Errorf("claim after a lost one: %+v, %v; want a lease (the work was not completed)", again, err)
	}
}

// TestCompleteLostAnswer: Complete is applied and its answer lost; the
// SDK's retry finds the claim completed by this very lease: a success.
func TestCompleteLostAnswer(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	cl, err := e.client().Claim(ctx, "lost-complete", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.net.Rule = dropFirst("UpdateItem", "DoneUntil")
	err = cl.Lease.Complete(ctx, []byte("r"))
	e.net.Rule = nil
	if err != nil {
		t.Errorf("Complete with a lost answer: %v", err)
	}
	if dup, err := e.otherClient().Claim(ctx, "lost-complete", nil); err != nil || dup.Done == nil {
		t.Errorf("duplicate: %+v, %v; want the completion", dup, err)
	}
}

// TestWriteAndComplete: the work's effects, the entity lock's release and
// the claim's completion are one transaction; a duplicate then finds the
// completion and the effect was applied once. With the claim lost, nothing
// is written.
func TestWriteAndComplete(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	app := e.appTable()
	c := e.client(lock.WithTTL(time.Minute))
	deliver := func() error {
		cl, err := c.Claim(ctx, "event/42", []byte("deposit 1"))
		if err != nil {
			return err
		}
		if cl.Done != nil {
			return nil // a duplicate of completed work: nothing to do
		}
		entity, err := c.Acquire(ctx, "account/a")
		if err != nil {
			_ = cl.Lease.Release(ctx)
			return err
		}
		return entity.Write(ctx, []dtypes.TransactWriteItem{add(app, "a", 0)}, lock.AndRelease(), lock.AndComplete(cl.Lease, []byte("done")))
	}
	e.net.Reset()
	for range 3 {
		if err := deliver(); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.count(app, "a"); got != 1 {
		t.Errorf("three deliveries applied the effect %d times, want once", got)
	}
	if n, tx := e.net.Total(), e.net.Count("TransactWriteItems"); n != 3+2 || tx != 1 {
		t.Errorf("%d requests (%d transactions), want claim + acquire + one transaction, then one claim per duplicate", n, tx)
	}
	if r := e.record("account/a"); !r.Released {
		t.Errorf("the entity lock was not released in the transaction: %+v", r)
	}

	// The claim lost before the write: nothing written.
	cl, err := c.Claim(ctx, "event/43", nil)
	if err != nil {
		t.Fatal(err)
	}
	entity, err := c.Acquire(ctx, "account/a")
	if err != nil {
		t.Fatal(err)
	}
	defer entity.Release(ctx)
	e.forceRelease("event/43")
	err = entity.Write(ctx, []dtypes.TransactWriteItem{add(app, "a", 0)}, lock.AndComplete(cl.Lease, nil))
	if !errors.Is(err, lock.ErrLockLost) || !strings.Contains(err.Error(), "event/43") {
		t.Errorf("write with a lost claim: %v, want ErrLockLost naming the claim", err)
	}
	if got := e.count(app, "a"); got != 1 {
		t.Errorf("a write with a lost claim was applied: count %d", got)
	}
}

// TestClaimAfterCrash: a claim whose holder died without completing or
// releasing is claimed again once its lease has ended.
func TestClaimAfterCrash(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const ttl = 300 * time.Millisecond
	if _, err := e.client(lock.WithTTL(ttl)).Claim(ctx, "crashed", nil); err != nil {
		t.Fatal(err) // and never completed nor released: the holder "died"
	}
	cl, err := e.otherClient(lock.WithWait(5*time.Second)).Claim(ctx, "crashed", nil)
	if err != nil || cl.Lease == nil {
		t.Fatalf("claim after the holder died: %+v, %v; want a lease", cl, err)
	}
	_ = cl.Lease.Release(ctx)
}

// TestWriteUnderSeveralLeases: AlsoUnder checks (and with AndRelease
// releases) further leases in the same transaction; one of them lost
// writes nothing. A result known only after the writes is stored by
// Complete after AndComplete, and duplicates get it.
func TestWriteUnderSeveralLeases(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	app := e.appTable()
	c := e.client(lock.WithTTL(time.Minute))
	leases, err := c.AcquireAll(ctx, []string{"account/a", "account/b"})
	if err != nil {
		t.Fatal(err)
	}
	e.forceRelease("account/b")
	err = leases[0].Write(ctx, []dtypes.TransactWriteItem{add(app, "a", 0)}, lock.AlsoUnder(leases[1]))
	if !errors.Is(err, lock.ErrLockLost) || !strings.Contains(err.Error(), "account/b") {
		t.Errorf("write with the second lease lost: %v, want ErrLockLost naming account/b", err)
	}
	if got := e.count(app, "a"); got != 0 {
		t.Errorf("a write with a lost lease was applied")
	}
	_ = leases[0].Release(ctx)

	leases, err = c.AcquireAll(ctx, []string{"account/a", "account/b"})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.Claim(ctx, "event/7", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = leases[0].Write(ctx, []dtypes.TransactWriteItem{add(app, "a", 0), add(app, "b", 0)},
		lock.AlsoUnder(leases[1]), lock.AndRelease(), lock.AndComplete(cl.Lease, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"account/a", "account/b", "event/7"} {
		if r := e.record(id); !r.Released {
			t.Errorf("%s not released by the transaction: %+v", id, r)
		}
	}
	if err := cl.Lease.Complete(ctx, []byte("receipt")); err != nil {
		t.Fatalf("storing the result after the transaction: %v", err)
	}
	if dup, err := c.Claim(ctx, "event/7", nil); err != nil || dup.Done == nil || string(dup.Done.Result) != "receipt" {
		t.Errorf("duplicate: %+v, %v; want the stored result", dup, err)
	}
}
