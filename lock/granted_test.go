package lock_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/lock"
)

// later is a clock a minute ahead: a client on it judges leases of a
// few seconds lapsed at once, as if their holders had stalled, with no
// sleep that a loaded machine could stretch.
func later() time.Time { return time.Now().Add(time.Minute) }

// TestLateAcquireAfterTakeoverAndReleaseIsLost is the single lock's case
// of TestReviewPermitsLateAcquireRevivesTakenOverPermit: L's acquire
// request is stuck in the network while the SDK's retry gets L the lock;
// L's lease lapses (by M's clock); M takes the lock over, writes and
// releases; then L's stuck request lands and, the lock being released,
// takes it again under L's lease ID (a new token). L must still get
// ErrLockLost from Extend, Write and Release, and M's write must stand:
// the holder's conditions check the token it was granted.
func TestLateAcquireAfterTakeoverAndReleaseIsLost(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	nw := newOvertaken(e.net, "AcquiredAt")
	l, err := e.clientOn(quickRetries(nw), lock.Config{TTL: 10 * time.Second, Owner: "L"}).Lock("one").Acquire(ctx)
	if err != nil {
		t.Fatalf("L: %v", err)
	}
	m, err := e.otherClient(lock.Config{TTL: 10 * time.Second, Owner: "M", Now: later}).Lock("one").Acquire(ctx)
	if err != nil {
		t.Fatalf("M, taking over L's lapsed lease: %v", err)
	}
	if err := m.Write(ctx, putItem(e, "late-w", "M")); err != nil {
		t.Fatalf("M's write: %v", err)
	}
	if err := m.Release(ctx); err != nil {
		t.Fatal(err)
	}
	nw.Land(t) // L's first acquire request lands now, on a released lock
	if r := e.record("one"); r.LeaseID != l.LeaseID() || r.Token == l.FencingToken() || r.Released {
		t.Fatalf("the late request did not take the lock again under L's lease ID: %+v (L's token %d)", r, l.FencingToken())
	}
	if err := l.Extend(ctx, 10*time.Second); !errors.Is(err, lock.ErrLockLost) {
		t.Errorf("L's Extend: %v, want ErrLockLost", err)
	}
	if err := l.Write(ctx, putItem(e, "late-w", "L")); !errors.Is(err, lock.ErrLockLost) {
		t.Errorf("L's Write: %v, want ErrLockLost", err)
	}
	if got := readItem(t, e, "late-w"); got != "M" {
		t.Errorf("item %q, want %q: the taken-over holder's write overwrote its successor's", got, "M")
	}
	if err := l.Release(ctx); !errors.Is(err, lock.ErrLockLost) {
		t.Errorf("L's Release: %v, want ErrLockLost", err)
	}
	// The late request's lease, for nobody, ends as L's would have.
	n, err := e.otherClient(lock.Config{Owner: "N", Now: later}).Lock("one").Acquire(ctx)
	if err != nil {
		t.Fatalf("N, after the late request's lease: %v", err)
	}
	_ = n.Release(ctx)
}

// quickRetries is a DynamoDB client over nw whose SDK retries after 10 ms.
func quickRetries(nw *overtaken) *dynamodb.Client {
	return srv.Client(func(o *dynamodb.Options) {
		o.HTTPClient = nw
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 10 * time.Millisecond, nil })
		})
	})
}

// TestPermitsRevivedEntryLapses: after the late acquire of the review's
// test, the taken-over holder's Release is ErrLockLost, and the revived
// entry is a permit for nobody that the next acquire takes over once its
// lease is over.
func TestPermitsRevivedEntryLapses(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	sem := lock.WithPermits(2)
	k, err := e.otherClient(lock.Config{TTL: 10 * time.Second, Owner: "K", Now: later}).Lock("sem").Acquire(ctx, sem)
	if err != nil {
		t.Fatal(err)
	}
	nw := newOvertaken(e.net, "PermitTokens")
	l, err := e.clientOn(quickRetries(nw), lock.Config{TTL: 10 * time.Second, Owner: "L"}).Lock("sem").Acquire(ctx, sem)
	if err != nil {
		t.Fatalf("L: %v", err)
	}
	m, err := e.otherClient(lock.Config{TTL: 10 * time.Second, Owner: "M", Now: later}).Lock("sem").Acquire(ctx, sem)
	if err != nil {
		t.Fatalf("M, taking L's permit over: %v", err)
	}
	if err := k.Release(ctx); err != nil {
		t.Fatal(err)
	}
	nw.Land(t) // a permit is free: the late request re-adds L's entry
	if err := l.Release(ctx); !errors.Is(err, lock.ErrLockLost) {
		t.Errorf("L's Release: %v, want ErrLockLost", err)
	}
	n, err := e.otherClient(lock.Config{Owner: "N", Now: later}).Lock("sem").Acquire(ctx, sem)
	if err != nil {
		t.Fatalf("N, beside M, the revived entry lapsed: %v", err)
	}
	_, _ = n.Release(ctx), m.Release(ctx)
}

// TestPermitsThatCannotFitRefusedUpFront: n entries of a holder's size
// that cannot fit in DynamoDB's 400 KB item are refused before any
// request, naming how many fit; counts that fit are taken.
func TestPermitsThatCannotFitRefusedUpFront(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for _, tc := range []struct {
		n        int
		metadata int // bytes of metadata per holder
		fit      bool
	}{
		{n: 100, metadata: 5000},
		{n: 80, metadata: 5000},
		{n: 70, metadata: 5000, fit: true},
		{n: 2, metadata: 210_000},
		{n: 2, metadata: 190_000, fit: true},
		{n: 100, metadata: 100, fit: true},
	} {
		name := strconv.Itoa(tc.n) + "x" + strconv.Itoa(tc.metadata)
		t.Run(name, func(t *testing.T) {
			c := e.client(lock.Config{Metadata: map[string]string{"job": strings.Repeat("x", tc.metadata)}})
			e.net.Reset()
			l, err := c.Lock("fit-"+name).Acquire(ctx, lock.WithPermits(tc.n))
			if tc.fit {
				if err != nil {
					t.Fatalf("%d permits of %d bytes of metadata: %v, want a permit", tc.n, tc.metadata, err)
				}
				_ = l.Release(ctx)
				return
			}
			if !errors.Is(err, lock.ErrInvalidInput) || !strings.Contains(err.Error(), "400 KB") {
				t.Fatalf("%d permits of %d bytes of metadata: %v, want ErrInvalidInput naming the 400 KB item", tc.n, tc.metadata, err)
			}
			if n := e.net.Total(); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
}

// TestPermitsItemFullOfOthersEntries: holders whose entries are larger
// than the newcomer's (other metadata) fill the item, so the newcomer's
// join is refused for size. It reads the item and judges it: lapsed
// entries are removed and it takes a permit; live ones make the permits
// held (a *HeldError, which a waiter waits on), not an outage.
func TestPermitsItemFullOfOthersEntries(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		live bool
	}{{"lapsed", false}, {"live", true}} {
		t.Run(tc.name, func(t *testing.T) {
			id := "full-" + tc.name
			end := time.Now().Add(-time.Minute)
			if tc.live {
				end = time.Now().Add(time.Hour)
			}
			e.putFullPermitItem(id, 3, end)
			c := e.client(lock.Config{Metadata: map[string]string{"job": strings.Repeat("y", 2000)}})
			l, err := c.Lock(id).Acquire(ctx, lock.WithPermits(3))
			if !tc.live {
				if err != nil {
					t.Fatalf("every other holder lapsed: %v, want a permit", err)
				}
				_ = l.Release(ctx)
				return
			}
			var held *lock.HeldError
			if !errors.As(err, &held) || !errors.Is(err, lock.ErrLockAlreadyAcquired) {
				t.Fatalf("the item full of live holders: %v, want a *HeldError", err)
			}
		})
	}
}

// putFullPermitItem stores id as a permit item of n permits with two
// holders ending at end whose metadata (204,000 bytes each) leaves no
// room for a third entry in DynamoDB's 400 KB.
func (e *env) putFullPermitItem(id string, n int, end time.Time) {
	e.t.Helper()
	num := func(v int64) dtypes.AttributeValue {
		return &dtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	str := func(v string) dtypes.AttributeValue { return &dtypes.AttributeValueMemberS{Value: v} }
	holders, tokens := map[string]dtypes.AttributeValue{}, map[string]dtypes.AttributeValue{}
	for i, lease := range []string{strings.Repeat("a", 32), strings.Repeat("b", 32)} {
		holders[lease] = &dtypes.AttributeValueMemberM{Value: map[string]dtypes.AttributeValue{
			"Owner": str("old"), "ExpiresAt": num(end.UnixMilli()), "AcquiredAt": num(end.Add(-time.Minute).UnixMilli()),
			"Granted":  num(time.Minute.Milliseconds()),
			"Metadata": &dtypes.AttributeValueMemberM{Value: map[string]dtypes.AttributeValue{"job": str(strings.Repeat("z", 204_000))}},
		}}
		tokens[lease] = num(int64(100 + i))
	}
	item := map[string]dtypes.AttributeValue{
		"Permits": num(int64(n)), "Token": num(101),
		"Holders": &dtypes.AttributeValueMemberM{Value: holders}, "PermitTokens": &dtypes.AttributeValueMemberM{Value: tokens},
	}
	for k, v := range shape.Table.Key(id) {
		item[k] = v
	}
	_, err := srv.Client().PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: item})
	if err != nil {
		e.t.Fatal(err)
	}
}
