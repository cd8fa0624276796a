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

// item reads the lock's item as stored, every attribute.
func (e *env) item(id string) map[string]dtypes.AttributeValue {
	e.t.Helper()
	out, err := srv.Client().GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(e.table), Key: map[string]dtypes.AttributeValue{lock.PartitionKey: &dtypes.AttributeValueMemberS{Value: id}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Item
}

// TestReleaseAfterLostCompletion: a completion (Complete, or Write with
// AndComplete) goes through and every answer to it, the SDK's retries'
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
		complete   func(c *lock.Client, app string, claim *lock.Lease) error
	}{
		{"Complete", "UpdateItem", "DoneUntil", func(_ *lock.Client, _ string, claim *lock.Lease) error {
			return claim.Complete(ctx, result)
		}},
		{"Write on the claim with AndComplete", "TransactWriteItems", "", func(_ *lock.Client, app string, claim *lock.Lease) error {
			return claim.Write(ctx, []dtypes.TransactWriteItem{add(app, "a", 0)}, lock.AndComplete(claim, result))
		}},
		{"Write on an entity with AndRelease and AndComplete", "TransactWriteItems", "", func(c *lock.Client, app string, claim *lock.Lease) error {
			entity, err := c.TryAcquire(ctx, "account/a")
			if err != nil {
				return err
			}
			err = entity.Write(ctx, []dtypes.TransactWriteItem{add(app, "a", 0)}, lock.AndRelease(), lock.AndComplete(claim, result))
			if rerr := entity.Release(ctx); rerr != nil {
				t.Errorf("release of the entity lock after its lost transaction: %v", rerr)
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			app := e.appTable()
			// The SDK's retries, quickly.
			db := srv.Client(func(o *dynamodb.Options) {
				o.HTTPClient = e.net
				o.Retryer = retry.AddWithMaxBackoffDelay(retry.NewStandard(), 20*time.Millisecond)
			})
			c, err := lock.NewClient(db, e.table, lock.WithClockSkewTolerance(20*time.Millisecond), lock.WithTTL(time.Minute),
				lock.WithCompletionExpiry(expiry), lock.WithRetention(retention))
			if err != nil {
				t.Fatal(err)
			}
			const id = "event/lost-completion"
			cl, err := c.Claim(ctx, id, nil)
			if err != nil {
				t.Fatal(err)
			}
			e.net.Rule = func(r httpfault.Request) httpfault.Action {
				if r.Op == tc.op && strings.Contains(string(r.Body), tc.marker) {
					return httpfault.Action{Kind: httpfault.DropResponse}
				}
				return httpfault.Action{}
			}
			err = tc.complete(c, app, cl.Lease)
			e.net.Rule = nil
			if err == nil || e.net.Faults()[httpfault.DropResponse] < 2 {
				t.Fatalf("setup: the completion returned %v after %d lost answers; want an error after the SDK's retries", err, e.net.Faults()[httpfault.DropResponse])
			}
			completed := e.record(id)
			if completed.CompletedLease != cl.Lease.LeaseID() || !completed.Released {
				t.Fatalf("setup: the completion did not go through: %+v", completed)
			}
			before := e.item(id)
			if err := cl.Lease.Release(ctx); err != nil {
				t.Errorf("release of a claim its lease completed: %v, want success", err)
			}
			if after := e.item(id); !reflect.DeepEqual(after, before) {
				r := e.record(id)
				t.Errorf("the release rewrote the completed item: TTL %s -> %s (the completion answers until %s), released at %s -> %s",
					completed.CleanupAt, r.CleanupAt, completed.DoneUntil, completed.ReleasedAt, r.ReleasedAt)
			}
			if r := e.record(id); r.CleanupAt.Before(r.DoneUntil) {
				t.Errorf("DynamoDB may delete the completion at %s, before it stops answering at %s", r.CleanupAt, r.DoneUntil)
			}
			if err := cl.Lease.Complete(ctx, result); err != nil {
				t.Errorf("storing the result again after the release: %v; the lease completed its claim", err)
			}
			dup, err := e.otherClient().Claim(ctx, id, nil)
			if err != nil || dup.Done == nil || !bytes.Equal(dup.Done.Result, result) {
				t.Errorf("duplicate: %+v, %v; want the completion with its result", dup, err)
			}
		})
	}
}
