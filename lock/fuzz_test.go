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
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/internal/lockopt"
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
	if err := admin.CreateTable(ctx, srv.Client(), name); err != nil {
		f.Fatal(err)
	}
	return name
}

// maxLockIDBytes is DynamoDB's limit on a partition key's size.
const maxLockIDBytes = 2048

// FuzzLockID: any string either is rejected as a lock ID, with
// ErrInvalidInput and no request sent, or is a key that DynamoDB takes as
// it is: the lock is acquired under exactly that ID and released. The
// rejected are exactly the empty, those longer than DynamoDB's key limit
// and those not valid UTF-8.
func FuzzLockID(f *testing.F) {
	// "\xff" is not UTF-8: the SDK sends it as U+FFFD, so every such ID
	// would share one lock, and 2048 of them exceed DynamoDB's key limit.
	for _, id := range []string{"", "orders/42", "日本語", "\x00", "\xff", strings.Repeat("k", maxLockIDBytes), strings.Repeat("k", maxLockIDBytes+1)} {
		f.Add(id)
	}
	table := fuzzTable(f)
	f.Fuzz(func(t *testing.T, id string) {
		ctx := context.Background()
		fdb := newFuzzDB()
		c, err := lock.NewClient(ctx, lock.Config{TableName: table, DynamoDB: fdb.db, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		valid := id != "" && len(id) <= maxLockIDBytes && utf8.ValidString(id)
		l, err := c.Lock(id).Acquire(ctx)
		if !valid {
			if !errors.Is(err, lock.ErrInvalidInput) {
				t.Fatalf("Acquire of lock ID %q (%d bytes) = %v, want ErrInvalidInput", id, len(id), err)
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
	r, err := admin.Parse(out.Items[0])
	return r.LockID, err
}

func keyOf(id string) map[string]dtypes.AttributeValue {
	return map[string]dtypes.AttributeValue{admin.Table.PartitionKey: &dtypes.AttributeValueMemberS{Value: id}}
}

// fuzzOptions are the fuzzed option values; durations in nanoseconds.
type fuzzOptions struct {
	ttl, skew, wait, heartbeat, retention, first, max, release int64
	owner, metaKey, metaValue                                  string
}

func (f fuzzOptions) metadata() map[string]string {
	if f.metaKey == "" && f.metaValue == "" {
		return nil
	}
	return map[string]string{f.metaKey: f.metaValue}
}

// config returns what of f a client's Config holds.
func (f fuzzOptions) config(table string, db lock.DynamoDBAPI) lock.Config {
	return lock.Config{
		TableName:          table,
		DynamoDB:           db,
		TTL:                time.Duration(f.ttl),
		ClockSkewTolerance: time.Duration(f.skew),
		Heartbeat:          time.Duration(f.heartbeat),
		Owner:              f.owner,
		Metadata:           f.metadata(),
	}
}

// clientOptions are what Config has no field for, given to each call.
func (f fuzzOptions) clientOptions() []lock.Option {
	return []lock.Option{
		lock.WithWait(time.Duration(f.wait)),
		lockopt.Retention(time.Duration(f.retention)),
		lockopt.RetryInterval(time.Duration(f.first), time.Duration(f.max)),
		lockopt.ReleaseTimeout(time.Duration(f.release)),
	}
}

// callOptions are all of f as options of one call.
func (f fuzzOptions) callOptions() []lock.Option {
	opts := append(f.clientOptions(),
		lockopt.TTL(time.Duration(f.ttl)),
		lockopt.Skew(time.Duration(f.skew)),
		lockopt.Heartbeat(time.Duration(f.heartbeat)),
		lockopt.Owner(f.owner),
	)
	if m := f.metadata(); m != nil {
		opts = append(opts, lockopt.Metadata(m))
	}
	return opts
}

var fuzzSeq atomic.Int64

// FuzzOptions: any combination of settings, given to NewClient in its
// Config (what Config has no field for going to each call) or to one
// call as options, either is rejected with ErrInvalidInput before any
// request is sent or gives a working lock. Nothing panics. The waits are
// kept short: a held lock is tried for at most a few milliseconds.
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
		{fuzzOptions{100 * ms, 100 * ms, 0, 0, 1, 1, 1, 1, "o", "", ""}, false},      // tolerance = TTL
		{fuzzOptions{100 * ms, 10 * ms, -1, 95 * ms, 1, 2, 1, 0, "", "", ""}, false}, // everything wrong
		{fuzzOptions{math.MaxInt64 / ms * ms, 0, math.MaxInt64, 0, math.MaxInt64, math.MaxInt64 / 2, math.MaxInt64, math.MaxInt64, "o", "k", "x"}, true},
		{fuzzOptions{math.MaxInt64 / ms * ms, math.MaxInt64, 0, 0, 1, 1, 1, 1, "o", "", ""}, false}, // the largest tolerance
		{fuzzOptions{60_000 * ms, 1000 * ms, 0, 0, 1, 1, 1, 1, "o", "", "empty key"}, false},        // metadata key DynamoDB refuses
		{fuzzOptions{-ms, -ms, 0, -ms, 1, 1, 1, 1, "o\xff", "k\xff", "v"}, false},                   // negative and not UTF-8
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
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cfg, callOpts := fo.config(table, fdb.db), fo.clientOptions()
		if perCall {
			cfg, callOpts = lock.Config{TableName: table, DynamoDB: fdb.db}, fo.callOptions()
		}
		c, err := lock.NewClient(ctx, cfg)
		if err != nil {
			if !errors.Is(err, lock.ErrInvalidInput) {
				t.Fatalf("NewClient(%+v) = %v, want ErrInvalidInput or success", fo, err)
			}
			if n := fdb.net.Total(); n != 0 {
				t.Fatalf("NewClient(%+v) sent %d requests", fo, n)
			}
			return
		}
		id := fmt.Sprintf("fuzz-options-%d", fuzzSeq.Add(1))
		l, err := c.Lock(id).Acquire(ctx, callOpts...)
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

// TestWaitWithHugeRetryInterval: retry intervals that a call accepts
// never make a waiter panic, however large. Growing a wait step near
// math.MaxInt64 by half must not overflow into a negative step.
func TestWaitWithHugeRetryInterval(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.client(lock.Config{TTL: time.Minute}).Lock("held").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	c := e.otherClient(lock.Config{})
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Acquire panicked: %v", r)
		}
	}()
	_, err := c.Lock("held").Acquire(ctx, lock.WithWait(500*time.Millisecond), lockopt.RetryInterval(7*time.Duration(1e18), math.MaxInt64))
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
	l, err := e.client(lock.Config{TTL: time.Minute}).Lock("handoff-twice").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other := e.otherClient(lock.Config{})
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
			if first, otherErr = other.Lock("handoff-twice").Acquire(ctx); otherErr == nil {
				if otherErr = first.Release(ctx); otherErr == nil {
					next, otherErr = other.Lock("handoff-twice").Acquire(ctx)
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
