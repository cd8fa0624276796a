package lock_test

// Hostile review of the v0.1 lock API (Lease over several IDs, Join,
// Complete with and without items, the stored-result tracking that lets a
// second Complete skip its write). Each TestReviewV01... test states the
// promise it holds the code to, and fails against DynamoDB Local for the
// reason its comment gives.

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
)

// reviewV01Client returns a lock client on e's faulted connection whose
// SDK retries come quickly, so that "every answer lost" costs little time.
func (e *env) reviewV01Client(cfg lock.Config) *lock.Client {
	e.t.Helper()
	db := srv.Client(func(o *dynamodb.Options) {
		o.HTTPClient = e.net
		o.Retryer = retry.AddWithMaxBackoffDelay(retry.NewStandard(), 20*time.Millisecond)
	})
	return e.clientOn(db, cfg)
}

// reviewV01DropAll loses the answer of every request of op whose body
// contains marker, after DynamoDB applied it.
func reviewV01DropAll(op, marker string) httpfault.Rule {
	return func(r httpfault.Request) httpfault.Action {
		if r.Op == op && strings.Contains(string(r.Body), marker) {
			return httpfault.Action{Kind: httpfault.DropResponse}
		}
		return httpfault.Action{}
	}
}

// Promise (Lease.Complete): "Complete again after a completion replaces
// the stored result", and a nil error from Complete means the result given
// is the one duplicates get. The first Complete(A) goes through and every
// answer to it is lost, so its caller gets an error. The caller (a handler
// whose output is known only now, or the middleware after the handler's
// own Complete) calls Complete(B). Its write fails its condition (the
// claim is released), the item shows the claim completed by this very
// lease, and part.complete takes that for "an earlier attempt of THIS
// call went through": it returns nil and records B as stored
// (storedKnown). The store still holds A: duplicates get A, the caller
// was told B. A third Complete(B) is then skipped as "stored already", so
// the lease can never put B in place.
func TestReviewV01CompleteAfterLostCompletionStoresItsResult(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.reviewV01Client(lock.Config{TTL: time.Minute})
	const id = "event/lost-then-other"
	cl, err := c.Claim(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := []byte(`{"first":"A"}`), []byte(`{"final":"B"}`)
	e.net.Rule = reviewV01DropAll("UpdateItem", "DoneUntil")
	err = cl.Lease.Complete(ctx, a)
	e.net.Rule = nil
	if err == nil {
		t.Fatal("setup: Complete(A) with every answer lost returned nil")
	}
	if r := e.record(id); r.CompletedLease != cl.Lease.LeaseID() || !bytes.Equal(r.Result, a) {
		t.Fatalf("setup: Complete(A) did not go through: %+v", r)
	}
	if err := cl.Lease.Complete(ctx, b); err != nil {
		t.Fatalf("Complete(B) after the lost Complete(A): %v", err)
	}
	if r := e.record(id); !bytes.Equal(r.Result, b) {
		t.Errorf("Complete(B) returned nil, but the claim stores %q: duplicates get the lost call's result, not B", r.Result)
	}
	// And once the lease believes B is stored, nothing puts it there.
	if err := cl.Lease.Complete(ctx, b); err != nil {
		t.Fatalf("Complete(B) again: %v", err)
	}
	dup, err := e.otherClient(lock.Config{}).Claim(ctx, id, nil)
	if err != nil || !dup.Done || !bytes.Equal(dup.Result, b) {
		t.Errorf("duplicate after Complete(B) twice returned nil: Done %v, Result %q, %v; want %q", dup.Done, dup.Result, err, b)
	}
}

// Promise: same as above, for the replacement itself. Complete(A) goes
// through (A known stored). Complete(B) is applied but every answer to it
// is lost: an error, and the lease still believes A is stored. Complete(A)
// then skips its write as "stored already" and returns nil, but the store
// holds B: the caller's last successful Complete said A, duplicates get B.
// storedKnown must be cleared before a replacement is sent (or on its
// failure), since its outcome is unknown.
func TestReviewV01LostReplacementLeavesStaleStored(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.reviewV01Client(lock.Config{TTL: time.Minute})
	const id = "event/lost-replacement"
	cl, err := c.Claim(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := []byte(`"A"`), []byte(`"B"`)
	if err := cl.Lease.Complete(ctx, a); err != nil {
		t.Fatal(err)
	}
	// The replacement's own update expression; the completion's has more.
	e.net.Rule = reviewV01DropAll("UpdateItem", `"SET #result = :result"`)
	err = cl.Lease.Complete(ctx, b)
	e.net.Rule = nil
	if err == nil {
		t.Fatal("setup: Complete(B) with every answer lost returned nil")
	}
	if r := e.record(id); !bytes.Equal(r.Result, b) {
		t.Fatalf("setup: the replacement with B did not go through: %q", r.Result)
	}
	if err := cl.Lease.Complete(ctx, a); err != nil {
		t.Fatalf("Complete(A) again: %v", err)
	}
	if r := e.record(id); !bytes.Equal(r.Result, a) {
		t.Errorf("Complete(A) returned nil (skipped as stored already), but the claim stores %q", r.Result)
	}
}

// Promise (Lease.Complete, Join): "releases every lock, in one
// transaction on the condition that the lease still holds them all … If a
// lock or the claim was lost, nothing is written and the error matches
// ErrLockLost: the work may run again"; Join: "Complete completes the
// claim among them … and releases the others in the same step". Without
// items, Complete of a joined lease sends the claim's completion and the
// entities' releases as independent writes: with an entity lock lost (an
// operator released it and another holder took it), Complete returns
// ErrLockLost, yet the claim is completed, so the work will never run
// again, and it was completed although one of the locks it was done under
// was someone else's. With items, the same call writes nothing.
func TestReviewV01CompleteWithoutItemsCompletesClaimWithEntityLost(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client(lock.Config{TTL: time.Minute})
	cl, err := claimWithLocks(ctx, c, "event/entity-lost", nil, "account/lost")
	if err != nil || cl.Lease == nil {
		t.Fatalf("claim: %+v, %v", cl, err)
	}
	e.forceRelease("account/lost")
	other, err := e.otherClient(lock.Config{TTL: time.Minute}).Lock("account/lost").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release(ctx)
	err = cl.Lease.Complete(ctx, []byte("r"))
	if !errors.Is(err, lock.ErrLockLost) {
		t.Fatalf("Complete with an entity lock taken over: %v, want ErrLockLost", err)
	}
	if r := e.record("event/entity-lost"); r.CompletedLease != "" || !r.DoneUntil.IsZero() {
		t.Errorf("Complete reported ErrLockLost (\"nothing is written … the work may run again\"), but completed the claim: "+
			"CompletedLease %q, DoneUntil %s, Result %q", r.CompletedLease, r.DoneUntil, r.Result)
	}
	dup, err := e.otherClient(lock.Config{}).Claim(ctx, "event/entity-lost", nil)
	if err == nil && dup.Done {
		t.Errorf("a retry of the work, which ErrLockLost says may run again, is answered as done (%q)", dup.Result)
	}
	if dup.Lease != nil {
		_ = dup.Lease.Release(ctx)
	}
}

// Promise (Lease.Complete): ErrLockLost means "a lock or the claim was
// lost, nothing is written … the work may run again" (GUARANTEES 5:
// lost responses and retries are harmless, never a false ErrLockLost).
// Complete with items is applied and every answer lost (the SDK's retries
// carry the same ClientRequestToken, so they are answered... and lost
// too); its caller calls Complete again with the same items, as one does
// after an error whose outcome is unknown. The second transaction carries
// a new token, its lease check finds the claim released, and it reports
// ErrLockLost "it was released", though this very lease completed the
// claim and the work will never run again.
func TestReviewV01RetriedCompleteWithItemsFalseLockLost(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	app := e.appTable()
	c := e.reviewV01Client(lock.Config{TTL: time.Minute})
	const id = "event/retried-complete-items"
	cl, err := c.Claim(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.net.Rule = reviewV01DropAll("TransactWriteItems", "")
	err = cl.Lease.Complete(ctx, []byte("r"), add(app, "a", 0))
	e.net.Rule = nil
	if err == nil {
		t.Fatal("setup: Complete with every answer lost returned nil")
	}
	if r := e.record(id); r.CompletedLease != cl.Lease.LeaseID() {
		t.Fatalf("setup: the completion did not go through: %+v", r)
	}
	err = cl.Lease.Complete(ctx, []byte("r"), add(app, "a", 0))
	if errors.Is(err, lock.ErrLockLost) {
		t.Errorf("Complete retried after a lost answer: %v; but this lease completed the claim (CompletedLease %q), "+
			"the work will not run again: a false ErrLockLost", err, e.record(id).CompletedLease)
	}
	if got := e.count(app, "a"); got != 1 {
		t.Errorf("effect applied %d times", got)
	}
}

// Promise (Lease.Extend): "a lease with a fixed end (WithLeaseEnd) is
// never extended past it (such an Extend is refused with ErrInvalidInput
// before any request)". A joined lease of a claim taken with a fixed end
// and an entity lock without: the Extend is refused with ErrInvalidInput,
// but the entity lock's extension was sent (eachPart runs every part at
// once) and went through: an error that says "nothing was done" after a
// lease was lengthened.
func TestReviewV01RefusedExtendOfJoinedLeaseSendsRequests(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.client(lock.Config{TTL: 2 * time.Second})
	cl, err := c.Claim(ctx, "event/fixed-end", nil, lock.WithLeaseEnd(time.Now().Add(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	entity, err := c.Lock("account/free-end").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	joined, err := lock.Join(cl.Lease, entity)
	if err != nil {
		t.Fatal(err)
	}
	defer joined.Release(ctx)
	before := e.record("account/free-end").ExpiresAt
	e.net.Reset()
	err = joined.Extend(ctx, time.Minute)
	if !errors.Is(err, lock.ErrInvalidInput) {
		t.Fatalf("Extend past the claim's fixed end: %v, want ErrInvalidInput", err)
	}
	if n := e.net.Total(); n != 0 {
		t.Errorf("a refused Extend sent %d requests", n)
	}
	if after := e.record("account/free-end").ExpiresAt; after.After(before) {
		t.Errorf("a refused Extend lengthened the entity lock from %s to %s", before.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano))
	}
}
