package lock_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// TestClaim: a claim lets the work run once: a duplicate in progress finds
// it held, a duplicate after completion gets the stored result, and a
// claim released without completing lets a retry run.
func TestClaim(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client(lock.Config{})
	const id = "event/1"
	first, err := c.Claim(ctx, id, []byte("body"))
	if err != nil || first.Lease == nil || first.Done {
		t.Fatalf("first claim: %+v, %v; want a lease", first, err)
	}
	if _, err := e.otherClient(lock.Config{}).Claim(ctx, id, []byte("body")); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Errorf("duplicate in progress: %v, want ErrLockAlreadyAcquired", err)
	}
	e.net.Reset()
	if err := first.Lease.Complete(ctx, []byte(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	dup, err := e.client(lock.Config{}).Claim(ctx, id, []byte("body"))
	if err != nil || dup.Lease != nil || !dup.Done {
		t.Fatalf("duplicate after completion: %+v, %v; want the completion", dup, err)
	}
	if n := e.net.Total(); n != 2 {
		t.Errorf("complete + duplicate claim took %d requests, want 2", n)
	}
	const defaultExpiry = 24 * time.Hour // Config.CompletionExpiry's default
	r := e.record(id)
	if !bytes.Equal(dup.Result, []byte(`{"ok":true}`)) || !dup.CompletedAt.Equal(r.CompletedAt) || r.DoneUntil.Sub(r.CompletedAt) != defaultExpiry {
		t.Errorf("completion %+v (stored: completed at %s, answers until %s), want the stored result, valid for %s",
			dup, r.CompletedAt, r.DoneUntil, defaultExpiry)
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
	c := e.client(lock.Config{CompletionExpiry: 300 * time.Millisecond})
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
	c := e.client(lock.Config{})
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
	if dup, err := c.Claim(ctx, "payload", []byte("a")); err != nil || !dup.Done || dup.Result != nil {
		t.Errorf("completed, same payload: %+v, %v; want the completion with no result", dup, err)
	}
}

// TestCompleteFails: Complete refuses what it cannot store, and a lost
// claim stores nothing.
func TestCompleteFails(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client(lock.Config{TTL: time.Minute})
	cl, err := c.Claim(ctx, "big", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Lease.Complete(ctx, make([]byte, lock.MaxResultBytes+1)); !errors.Is(err, lock.ErrInvalidInput) || !strings.Contains(err.Error(), "reference") {
		t.Errorf("too large a result: %v, want ErrInvalidInput saying what to do", err)
	}
	plain, err := c.Lock("plain").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Release(ctx)
	e.net.Reset()
	if err := plain.Complete(ctx, []byte("r")); !errors.Is(err, lock.ErrInvalidInput) {
		t.Errorf("Complete of a plain lease with a result: %v, want ErrInvalidInput", err)
	}
	if n := e.net.Total(); n != 0 {
		t.Errorf("a refused Complete sent %d requests", n)
	}
	if r := e.record("plain"); r.LeaseID != plain.LeaseID() || !r.Held(time.Now()) {
		t.Errorf("a refused Complete changed the lock: %+v", r)
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
	cl, err := e.client(lock.Config{}).Claim(ctx, "lost-complete", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.net.Rule = dropFirst("UpdateItem", "DoneUntil")
	err = cl.Lease.Complete(ctx, []byte("r"))
	e.net.Rule = nil
	if err != nil {
		t.Errorf("Complete with a lost answer: %v", err)
	}
	if dup, err := e.otherClient(lock.Config{}).Claim(ctx, "lost-complete", nil); err != nil || !dup.Done {
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
	c := e.client(lock.Config{TTL: time.Minute})
	deliver := func() error {
		cl, err := claimWithLocks(ctx, c, "event/42", []byte("deposit 1"), "account/a")
		if err != nil {
			return err
		}
		if cl.Done {
			return nil // a duplicate of completed work: nothing to do
		}
		return cl.Lease.Complete(ctx, []byte("done"), add(app, "a", 0))
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
	// A duplicate costs its claim alone: the entity lock is taken only
	// for work to do.
	if n, tx := e.net.Total(), e.net.Count("TransactWriteItems"); n != 3+2*1 || tx != 1 {
		t.Errorf("%d requests (%d transactions), want claim + acquire + one transaction, then one claim per duplicate", n, tx)
	}
	if r := e.record("account/a"); !r.Released {
		t.Errorf("the entity lock was not released in the transaction: %+v", r)
	}

	// The claim lost before the write: nothing written.
	cl, err := claimWithLocks(ctx, c, "event/43", nil, "account/a")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Lease.Release(ctx)
	e.forceRelease("event/43")
	err = cl.Lease.Complete(ctx, nil, add(app, "a", 0))
	if !errors.Is(err, lock.ErrLockLost) || !strings.Contains(err.Error(), "event/43") {
		t.Errorf("write with a lost claim: %v, want ErrLockLost naming the claim", err)
	}
	if got := e.count(app, "a"); got != 1 {
		t.Errorf("a write with a lost claim was applied: count %d", got)
	}
	if r := e.record("account/a"); r.Released {
		t.Errorf("a write with a lost claim released the entity lock: %+v", r)
	}
}

// TestClaimAfterCrash: a claim whose holder died without completing or
// releasing is claimed again once its lease has ended.
func TestClaimAfterCrash(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const ttl = 300 * time.Millisecond
	if _, err := e.client(lock.Config{TTL: ttl}).Claim(ctx, "crashed", nil); err != nil {
		t.Fatal(err) // and never completed nor released: the holder "died"
	}
	cl, err := e.otherClient(lock.Config{}).Claim(ctx, "crashed", nil, lock.WithWait(5*time.Second))
	if err != nil || cl.Lease == nil {
		t.Fatalf("claim after the holder died: %+v, %v; want a lease", cl, err)
	}
	_ = cl.Lease.Release(ctx)
}

// TestWriteUnderSeveralLocks: a lease of several lock IDs checks (and
// with Complete releases) them all in the same transaction; one of them
// lost writes nothing. A claim taken with entity locks completes and
// releases them all in one transaction; a result known only after the
// writes is stored by a second Complete, and duplicates get it.
func TestWriteUnderSeveralLocks(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	app := e.appTable()
	c := e.client(lock.Config{TTL: time.Minute})
	lease, err := c.Lock("account/a", "account/b").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.forceRelease("account/b")
	err = lease.Write(ctx, add(app, "a", 0))
	if !errors.Is(err, lock.ErrLockLost) || !strings.Contains(err.Error(), "account/b") {
		t.Errorf("write with the second lock lost: %v, want ErrLockLost naming account/b", err)
	}
	if got := e.count(app, "a"); got != 0 {
		t.Errorf("a write with a lost lock was applied")
	}
	_ = lease.Release(ctx)

	cl, err := claimWithLocks(ctx, c, "event/7", nil, "account/a", "account/b")
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Lease.Complete(ctx, nil, add(app, "a", 0), add(app, "b", 0)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"account/a", "account/b", "event/7"} {
		if r := e.record(id); !r.Released {
			t.Errorf("%s not released by the transaction: %+v", id, r)
		}
	}
	if r := e.record("event/7"); r.CompletedLease != r.LeaseID {
		t.Errorf("the claim was not completed by the transaction: %+v", r)
	}
	if got := e.count(app, "a") + e.count(app, "b"); got != 2 {
		t.Errorf("the transaction applied %d of its 2 writes", got)
	}
	if err := cl.Lease.Complete(ctx, []byte("receipt")); err != nil {
		t.Fatalf("storing the result after the transaction: %v", err)
	}
	if dup, err := c.Claim(ctx, "event/7", nil); err != nil || !dup.Done || string(dup.Result) != "receipt" {
		t.Errorf("duplicate: %+v, %v; want the stored result", dup, err)
	}
}

// item reads the lock's item as stored, every attribute.
func (e *env) item(id string) map[string]dtypes.AttributeValue {
	e.t.Helper()
	out, err := srv.Client().GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(e.table), Key: shape.Table.Key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Item
}

// TestReleaseAfterLostCompletion: a completion (Complete, without or with
// items, of a claim alone or with entity locks) goes through and every answer to it, the SDK's retries'
// too, is lost; its caller sees an error and releases the claim, as the
// middleware does after a failed handler. That release must not touch the
// completed item: rewriting its TTL to the release's time plus the
// retention would let DynamoDB delete, with a completion expiry longer
// than the retention, a completion that must still answer duplicates. The
// release is a success (no one holds the lock, the completion stands),
// the item is what the completion wrote, attribute for attribute, and the
// lease knows it completed its claim.
func TestReleaseAfterLostCompletion(t *testing.T) {
	ctx := context.Background()
	const expiry, retention = 7 * 24 * time.Hour, time.Hour
	result := []byte("receipt")
	for _, tc := range []struct {
		name string
		// op and marker select the requests whose answers are lost.
		op, marker string
		// locks are the entity locks the claim takes with it.
		locks []string
		items bool // Complete with an application write
	}{
		{"Complete", "UpdateItem", "DoneUntil", nil, false},
		{"Complete with items", "TransactWriteItems", "", nil, true},
		{"Complete with items and an entity lock", "TransactWriteItems", "", []string{"account/a"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			app := e.appTable()
			// The SDK's retries, quickly.
			db := srv.Client(func(o *dynamodb.Options) {
				o.HTTPClient = e.net
				o.Retryer = retry.AddWithMaxBackoffDelay(retry.NewStandard(), 20*time.Millisecond)
			})
			c := e.clientOn(db, lock.Config{TTL: time.Minute, CompletionExpiry: expiry})
			const id = "event/lost-completion"
			cl, err := c.Claim(ctx, id, nil, lockopt.Retention(retention))
			if err != nil {
				t.Fatal(err)
			}
			claimLease := cl.Lease.LeaseID()
			if len(tc.locks) > 0 {
				entities, err := c.Lock(tc.locks...).Acquire(ctx, lockopt.Retention(retention))
				if err != nil {
					t.Fatal(err)
				}
				if cl.Lease, err = lock.Join(cl.Lease, entities); err != nil {
					t.Fatal(err)
				}
			}
			e.net.Rule = func(r httpfault.Request) httpfault.Action {
				if r.Op == tc.op && strings.Contains(string(r.Body), tc.marker) {
					return httpfault.Action{Kind: httpfault.DropResponse}
				}
				return httpfault.Action{}
			}
			if tc.items {
				err = cl.Lease.Complete(ctx, result, add(app, "a", 0))
			} else {
				err = cl.Lease.Complete(ctx, result)
			}
			e.net.Rule = nil
			if err == nil || e.net.Faults()[httpfault.DropResponse] < 2 {
				t.Fatalf("setup: the completion returned %v after %d lost answers; want an error after the SDK's retries", err, e.net.Faults()[httpfault.DropResponse])
			}
			completed := e.record(id)
			if completed.CompletedLease != claimLease || !completed.Released {
				t.Fatalf("setup: the completion did not go through: %+v", completed)
			}
			before := map[string]map[string]dtypes.AttributeValue{}
			for _, lid := range append([]string{id}, tc.locks...) {
				before[lid] = e.item(lid)
			}
			if err := cl.Lease.Release(ctx); err != nil {
				t.Errorf("release of a claim its lease completed: %v, want success", err)
			}
			if after := e.item(id); !reflect.DeepEqual(after, before[id]) {
				r := e.record(id)
				t.Errorf("the release rewrote the completed item: TTL %s -> %s (the completion answers until %s), released at %s -> %s",
					completed.CleanupAt, r.CleanupAt, completed.DoneUntil, completed.ReleasedAt, r.ReleasedAt)
			}
			for _, lid := range tc.locks {
				if after := e.item(lid); !reflect.DeepEqual(after, before[lid]) {
					t.Errorf("the release rewrote entity lock %s, which the completion released: %+v", lid, e.record(lid))
				}
			}
			if r := e.record(id); r.CleanupAt.Before(r.DoneUntil) {
				t.Errorf("DynamoDB may delete the completion at %s, before it stops answering at %s", r.CleanupAt, r.DoneUntil)
			}
			if err := cl.Lease.Complete(ctx, result); err != nil {
				t.Errorf("storing the result again after the release: %v; the lease completed its claim", err)
			}
			dup, err := e.otherClient(lock.Config{}).Claim(ctx, id, nil)
			if err != nil || !dup.Done || !bytes.Equal(dup.Result, result) {
				t.Errorf("duplicate: %+v, %v; want the completion with its result", dup, err)
			}
		})
	}
}

// TestJoin: a claim and the entity locks its work changes, taken by two
// calls, joined into one lease: Complete with items commits the effect,
// completes the claim and releases the entities in one transaction, and a
// duplicate is answered whether the entities are held or not. Join refuses
// two claims, one lock twice and leases not from Acquire or Claim.
func TestJoin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	app := e.appTable()
	c := e.client(lock.Config{TTL: time.Minute})
	cl, err := claimWithLocks(ctx, c, "event/9", nil, "account/a", "account/b")
	if err != nil || cl.Lease == nil {
		t.Fatalf("claim with its entities free: %+v, %v", cl, err)
	}
	if got := cl.Lease.Tokens(); len(got) != 2 || got["account/a"] == 0 || got["account/b"] == 0 {
		t.Errorf("joined lease's tokens %v, want one per entity and none for the claim", got)
	}
	if cl.Lease.FencingToken() != 0 || cl.Lease.LockID() != "" {
		t.Errorf("a lease of two entities gave token %d and lock ID %q, want 0 and \"\"", cl.Lease.FencingToken(), cl.Lease.LockID())
	}
	if err := cl.Lease.Complete(ctx, []byte("ok"), add(app, "a", 0)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"event/9", "account/a", "account/b"} {
		if r := e.record(id); r.Held(time.Now()) {
			t.Errorf("%s still held after Complete: %+v", id, r)
		}
	}
	if _, err := e.otherClient(lock.Config{TTL: time.Minute}).Lock("account/a").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	dup, err := claimWithLocks(ctx, c, "event/9", nil, "account/a", "account/b")
	if err != nil || !dup.Done || string(dup.Result) != "ok" {
		t.Errorf("duplicate with an entity held: %+v, %v; want the completion", dup, err)
	}
	if got := e.count(app, "a"); got != 1 {
		t.Errorf("the effect was applied %d times, want once", got)
	}

	one, err := c.Lock("x").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Release(ctx)
	c1, err := c.Claim(ctx, "claim/1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Lease.Release(ctx)
	c2, err := c.Claim(ctx, "claim/2", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Lease.Release(ctx)
	for name, leases := range map[string][]*lock.Lease{
		"none":           nil,
		"a nil lease":    {one, nil},
		"a zero lease":   {one, new(lock.Lease)},
		"two claims":     {c1.Lease, c2.Lease},
		"one lock twice": {one, one},
	} {
		if _, err := lock.Join(leases...); !errors.Is(err, lock.ErrInvalidInput) {
			t.Errorf("Join with %s: %v, want ErrInvalidInput", name, err)
		}
	}
}

// claimWithLocks claims id and, for work to do, takes the entity locks ids
// after it, joined into the claim's lease: what a caller outside the Lambda
// middleware writes to lock the entities its once-only work changes.
func claimWithLocks(ctx context.Context, c *lock.Client, id string, payload []byte, ids ...string) (lock.Claim, error) {
	cl, err := c.Claim(ctx, id, payload)
	if err != nil || cl.Done {
		return cl, err
	}
	entities, err := c.Lock(ids...).Acquire(ctx)
	if err != nil {
		_ = cl.Lease.Release(ctx)
		return lock.Claim{}, err
	}
	if cl.Lease, err = lock.Join(cl.Lease, entities); err != nil {
		return lock.Claim{}, err
	}
	return cl, nil
}
