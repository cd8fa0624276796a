package lock_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
)

// fuzzDB is a real DynamoDB Local client whose requests are counted, with
// one attempt per request so a failure shows at once.
type fuzzDB struct {
	net *httpfault.Client
	db  *dynamodb.Client
}

func newFuzzDB() *fuzzDB {
	net := &httpfault.Client{Next: awshttp.NewBuildableClient()}
	return &fuzzDB{net: net, db: srv.Client(func(o *dynamodb.Options) {
		o.HTTPClient = net
		o.RetryMaxAttempts = 1
	})}
}

// fuzzTable creates a lock table for a fuzz target, once per process.
func fuzzTable(f *testing.F) string {
	f.Helper()
	name := fmt.Sprintf("fuzz-%s-%d", f.Name(), time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lock.CreateTable(ctx, srv.Client(), name); err != nil {
		f.Fatal(err)
	}
	return name
}

// FuzzLockID: any string either is rejected as a lock ID, with
// ErrInvalidInput and no request sent, or is a key that DynamoDB takes as
// it is: the lock is acquired under exactly that ID and released.
func FuzzLockID(f *testing.F) {
	// "\xff" is not UTF-8: the SDK sends it as U+FFFD, so every such ID
	// would share one lock, and 2048 of them exceed DynamoDB's key limit.
	for _, id := range []string{"", "orders/42", "日本語", "\x00", "\xff", strings.Repeat("k", lock.MaxLockIDBytes), strings.Repeat("k", lock.MaxLockIDBytes+1)} {
		f.Add(id)
	}
	table := fuzzTable(f)
	f.Fuzz(func(t *testing.T, id string) {
		ctx := context.Background()
		fdb := newFuzzDB()
		c, err := lock.NewClient(fdb.db, table, lock.WithTTL(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		verr := lock.ValidateLockID(id)
		l, err := c.TryAcquire(ctx, id)
		if verr != nil {
			if !errors.Is(verr, lock.ErrInvalidInput) || !errors.Is(err, lock.ErrInvalidInput) {
				t.Fatalf("ValidateLockID(%q) = %v and TryAcquire = %v, want ErrInvalidInput from both", id, verr, err)
			}
			if n := fdb.net.Total(); n != 0 {
				t.Fatalf("invalid lock ID %q: %d requests sent, want none", id, n)
			}
			return
		}
		if err != nil {
			t.Fatalf("valid lock ID %q (%d bytes) not acquired: %v", id, len(id), err)
		}
		defer func() {
			if err := l.Release(ctx); err != nil {
				t.Errorf("release %q: %v", id, err)
			}
			// Keep the table small: the check below scans it.
			_, _ = srv.Client().DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: keyOf(id)})
		}()
		if l.LockID() != id {
			t.Fatalf("lease of %q has lock ID %q", id, l.LockID())
		}
		got, err := storedKey(ctx, table, l.LeaseID())
		if err != nil {
			t.Fatal(err)
		}
		if got != id {
			t.Fatalf("lock ID %q (%d bytes) was stored under the key %q: another ID's lock", id, len(id), got)
		}
	})
}

// storedKey returns the key of the item that holds leaseID, as DynamoDB
// stored it.
func storedKey(ctx context.Context, table, leaseID string) (string, error) {
	out, err := srv.Client().Scan(ctx, &dynamodb.ScanInput{
		TableName:                 &table,
		ConsistentRead:            aws.Bool(true),
		FilterExpression:          aws.String("LeaseId = :l"),
		ExpressionAttributeValues: map[string]dtypes.AttributeValue{":l": &dtypes.AttributeValueMemberS{Value: leaseID}},
	})
	if err != nil {
		return "", err
	}
	if len(out.Items) != 1 {
		return "", fmt.Errorf("%d items hold lease %s, want 1", len(out.Items), leaseID)
	}
	r, err := lock.ParseRecord(out.Items[0])
	return r.LockID, err
}

func keyOf(id string) map[string]dtypes.AttributeValue {
	return map[string]dtypes.AttributeValue{lock.PartitionKey: &dtypes.AttributeValueMemberS{Value: id}}
}

// fuzzOptions are the fuzzed option values; durations in nanoseconds.
type fuzzOptions struct {
	ttl, skew, wait, heartbeat, retention, first, max, release int64
	owner, metaKey, metaValue                                  string
}

func (f fuzzOptions) options() []lock.Option {
	opts := []lock.Option{
		lock.WithTTL(time.Duration(f.ttl)),
		lock.WithClockSkewTolerance(time.Duration(f.skew)),
		lock.WithWait(time.Duration(f.wait)),
		lock.WithHeartbeat(time.Duration(f.heartbeat)),
		lock.WithRetention(time.Duration(f.retention)),
		lock.WithRetryInterval(time.Duration(f.first), time.Duration(f.max)),
		lock.WithReleaseTimeout(time.Duration(f.release)),
		lock.WithOwner(f.owner),
	}
	if f.metaKey != "" || f.metaValue != "" {
		opts = append(opts, lock.WithMetadata(map[string]string{f.metaKey: f.metaValue}))
	}
	return opts
}

var fuzzSeq atomic.Int64

// FuzzOptions: any combination of options, given to NewClient or to one
// call, either is rejected with ErrInvalidInput before any request is sent
// or gives a working lock. Nothing panics. The waits are kept short: a
// held lock is tried for at most a few milliseconds.
func FuzzOptions(f *testing.F) {
	ms := int64(time.Millisecond)
	for _, s := range []struct {
		o       fuzzOptions
		perCall bool
	}{
		{fuzzOptions{60_000 * ms, 1000 * ms, 0, 0, 24 * 3600_000 * ms, 50 * ms, 500 * ms, 5000 * ms, "me", "", ""}, false},
		{fuzzOptions{500 * ms, 100 * ms, 5 * ms, 100 * ms, 1, 1, 1, 1, "worker-1", "k", "v"}, true},
		{fuzzOptions{1, 0, 0, 0, 1, 1, 1, 1, "o", "", ""}, false},                    // TTL below a millisecond
		{fuzzOptions{100 * ms, 100 * ms, 0, 0, 1, 1, 1, 1, "o", "", ""}, true},       // tolerance = TTL
		{fuzzOptions{100 * ms, 10 * ms, -1, 95 * ms, 1, 2, 1, 0, "", "", ""}, false}, // everything wrong
		{fuzzOptions{math.MaxInt64 / ms * ms, 0, math.MaxInt64, 0, math.MaxInt64, math.MaxInt64 / 2, math.MaxInt64, math.MaxInt64, "o", "k", "x"}, true},
		{fuzzOptions{60_000 * ms, 1000 * ms, 0, 0, 1, 1, 1, 1, "o", "", "empty key"}, false}, // metadata key DynamoDB refuses
	} {
		o := s.o
		f.Add(o.ttl, o.skew, o.wait, o.heartbeat, o.retention, o.first, o.max, o.release, o.owner, o.metaKey, o.metaValue, s.perCall)
	}
	table := fuzzTable(f)
	f.Fuzz(func(t *testing.T, ttl, skew, wait, heartbeat, retention, first, maxStep, release int64, owner, metaKey, metaValue string, perCall bool) {
		fo := fuzzOptions{ttl, skew, wait, heartbeat, retention, first, maxStep, release, owner, metaKey, metaValue}
		// Keep each run short: a wait of at most 20 ms, on a lock that is free.
		fo.wait = min(fo.wait, int64(20*time.Millisecond))
		fdb := newFuzzDB()
		var clientOpts, callOpts []lock.Option
		if perCall {
			callOpts = fo.options()
		} else {
			clientOpts = fo.options()
		}
		c, err := lock.NewClient(fdb.db, table, clientOpts...)
		if err != nil {
			if !errors.Is(err, lock.ErrInvalidInput) {
				t.Fatalf("NewClient(%+v) = %v, want ErrInvalidInput or success", fo, err)
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		id := fmt.Sprintf("fuzz-options-%d", fuzzSeq.Add(1))
		l, err := c.Acquire(ctx, id, callOpts...)
		if errors.Is(err, lock.ErrInvalidInput) {
			if n := fdb.net.Total(); n != 0 {
				t.Fatalf("options %+v rejected after %d requests, want none", fo, n)
			}
			return
		}
		if err != nil {
			t.Fatalf("options %+v accepted but the free lock %q was not acquired: %v", fo, id, err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatalf("options %+v: release: %v", fo, err)
		}
	})
}

// TestWaitWithHugeRetryInterval: retry intervals that NewClient accepts
// never make a waiter panic, however large. Growing a wait step near
// math.MaxInt64 by half must not overflow into a negative step.
func TestWaitWithHugeRetryInterval(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.client(lock.WithTTL(time.Minute)).TryAcquire(ctx, "held"); err != nil {
		t.Fatal(err)
	}
	c := e.otherClient(lock.WithWait(500*time.Millisecond), lock.WithRetryInterval(7*time.Duration(1e18), math.MaxInt64))
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Acquire panicked: %v", r)
		}
	}()
	_, err := c.Acquire(ctx, "held")
	if !errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Fatalf("Acquire of a held lock: %v, want ErrLockAlreadyAcquired", err)
	}
}

// TestLostReleaseThenTakenOverTwice, found by the chaos run: the release
// goes through and its answer is lost; before the SDK's retry lands,
// another holder acquires, releases and acquires again. The first holder
// did release, well within its lease, so Release must not report the lock
// lost (nor make Do fail).
func TestLostReleaseThenTakenOverTwice(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	l, err := e.client(lock.WithTTL(time.Minute)).TryAcquire(ctx, "handoff-twice")
	if err != nil {
		t.Fatal(err)
	}
	other := e.otherClient()
	var next *lock.Lease
	var otherErr error
	dropped := false
	e.net.Rule = func(r httpfault.Request) httpfault.Action {
		if !dropped && strings.Contains(string(r.Body), "ReleasedAt") {
			dropped = true
			return httpfault.Action{Kind: httpfault.DropResponse}
		}
		if dropped && next == nil && otherErr == nil { // the retry: first let another holder in, out, and in again
			var first *lock.Lease
			if first, otherErr = other.TryAcquire(ctx, "handoff-twice"); otherErr == nil {
				if otherErr = first.Release(ctx); otherErr == nil {
					next, otherErr = other.TryAcquire(ctx, "handoff-twice")
				}
			}
		}
		return httpfault.Action{}
	}
	err = l.Release(ctx)
	if otherErr != nil || next == nil {
		t.Fatalf("the other holder did not get in between the attempts: %v", otherErr)
	}
	if err != nil {
		t.Errorf("release that went through, retried after a handoff, with %s of its lease left: %v", time.Until(l.Deadline()).Round(time.Second), err)
	}
	if r := e.record("handoff-twice"); r.LeaseID != next.LeaseID() || !r.Held(time.Now()) {
		t.Errorf("the new holder's lock was disturbed: %+v", r)
	}
}
