package admin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/lock"
)

// newTable creates a lock table for one test and returns its name and a
// lock client on it.
func newTable(t *testing.T, cfg lock.Config) (string, *lock.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	table := dynamotest.TableName(t)
	if err := admin.CreateTable(ctx, srv.Client(), table); err != nil {
		t.Fatal(err)
	}
	cfg.TableName, cfg.DynamoDB = table, srv.Client()
	c, err := lock.NewClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return table, c
}

// read reads id's record, failing the test if it is missing.
func read(t *testing.T, table, id string) admin.Record {
	t.Helper()
	rec, found, err := admin.Read(context.Background(), srv.Client(), table, id)
	if err != nil || !found {
		t.Fatalf("Read(%q): found %v, %v", id, found, err)
	}
	return rec
}

// TestRead: a lock that never had an item is not found; a held one reads
// as its lease, holder, metadata and ends; a released one says so, and
// when.
func TestRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	table, c := newTable(t, lock.Config{Owner: "billing", Metadata: map[string]string{"order": "42"}})
	if rec, found, err := admin.Read(ctx, srv.Client(), table, "never"); err != nil || found || rec.LockID != "" {
		t.Errorf("Read of a lock without an item: %+v, found %v, %v; want not found", rec, found, err)
	}

	before := time.Now().Truncate(time.Millisecond)
	l, err := c.Lock("job").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec := read(t, table, "job")
	if rec.LockID != "job" || rec.LeaseID != l.LeaseID() || rec.Token != l.FencingToken() || rec.Owner != "billing" ||
		rec.Metadata["order"] != "42" || rec.Released || rec.Forced {
		t.Errorf("record of a held lock %+v, want lease %s, token %d, owner billing, metadata", rec, l.LeaseID(), l.FencingToken())
	}
	// The stored end is rounded up to the millisecond, the acquire time down.
	if d := rec.ExpiresAt.Sub(rec.AcquiredAt); rec.AcquiredAt.Before(before) || d < lock.DefaultTTL || d > lock.DefaultTTL+time.Millisecond || rec.CleanupAt.Before(rec.ExpiresAt) {
		t.Errorf("acquired at %s, ends at %s, cleaned up at %s: want now, a TTL later, and after that", rec.AcquiredAt, rec.ExpiresAt, rec.CleanupAt)
	}
	if !rec.Held(time.Now()) || rec.Held(rec.ExpiresAt) {
		t.Errorf("Held: %v now, %v at the lease's end; want true, false", rec.Held(time.Now()), rec.Held(rec.ExpiresAt))
	}

	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	rec = read(t, table, "job")
	if !rec.Released || rec.Forced || rec.ReleasedAt.Before(before) || rec.Held(time.Now()) || rec.LeaseID != l.LeaseID() {
		t.Errorf("record of a released lock %+v", rec)
	}
}

// countingDB is DynamoDB Local's client, counting the requests Read sends.
type countingDB struct {
	*dynamodb.Client
	n atomic.Int32
}

func (d *countingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	d.n.Add(1)
	return d.Client.GetItem(ctx, in, opts...)
}

// TestReadInvalidID: a string that cannot be a lock ID is refused with
// lock.ErrInvalidInput, before any request.
func TestReadInvalidID(t *testing.T) {
	t.Parallel()
	db := &countingDB{Client: srv.Client()}
	for _, id := range []string{"", "\xff", strings.Repeat("x", 2049)} {
		if _, _, err := admin.Read(context.Background(), db, "locks", id); !errors.Is(err, lock.ErrInvalidInput) {
			t.Errorf("Read(%q): %v, want ErrInvalidInput", id, err)
		}
	}
	if n := db.n.Load(); n != 0 {
		t.Errorf("%d requests sent for invalid lock IDs", n)
	}
}

// TestForceRelease: an operator's force-release of the lease it saw
// frees the lock, records who and why, and makes the holder's release and
// extend fail as lost; one of a lease that has changed since is refused,
// with the current item, which Parse reads.
func TestForceRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	table, c := newTable(t, lock.Config{ClockSkewTolerance: 20 * time.Millisecond})
	l, err := c.Lock("stuck").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := read(t, table, "stuck")
	force := func(rec admin.Record) error {
		_, err := srv.Client().UpdateItem(ctx, admin.ForceReleaseInput(table, "stuck", rec.LeaseID, rec.Token, "ops@example.com", "deploy stuck", time.Now()))
		return err
	}

	stale := seen
	stale.Token++
	var ccf *types.ConditionalCheckFailedException
	if err := force(stale); !errors.As(err, &ccf) {
		t.Fatalf("force-release with another token: %v, want a failed condition", err)
	}
	if rec, err := admin.Parse(ccf.Item); err != nil || rec.LeaseID != l.LeaseID() || rec.Released {
		t.Errorf("the refusal carries %+v (%v), want the held item", rec, err)
	}

	if err := force(seen); err != nil {
		t.Fatal(err)
	}
	rec := read(t, table, "stuck")
	if !rec.Released || !rec.Forced || rec.ReleasedBy != "ops@example.com" || rec.ReleaseReason != "deploy stuck" ||
		rec.ForcedLease != l.LeaseID() || rec.ForceCount != 1 || rec.Held(time.Now()) {
		t.Errorf("record after a force-release %+v", rec)
	}
	if err := l.Extend(ctx, 0); !errors.Is(err, lock.ErrLockLost) {
		t.Errorf("the holder's extend: %v, want ErrLockLost", err)
	}
	if err := l.Release(ctx); !errors.Is(err, lock.ErrLockLost) || !errors.Is(err, lock.ErrLockRelease) {
		t.Errorf("the holder's release: %v, want ErrLockRelease and ErrLockLost", err)
	}

	if err := force(seen); !errors.As(err, &ccf) {
		t.Fatalf("second force-release of the same lease: %v, want a failed condition", err)
	}
	if rec, err := admin.Parse(ccf.Item); err != nil || !rec.Forced || rec.ForceCount != 1 {
		t.Errorf("the refusal carries %+v (%v), want the force-released item", rec, err)
	}
	if _, err := c.Lock("stuck").Acquire(ctx); err != nil {
		t.Errorf("the force-released lock is not free: %v", err)
	}
}

// TestClaimRecord: a completed claim's record says which lease completed
// it, when, until when it answers duplicates, its result and its
// payload's hash.
func TestClaimRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const expiry = time.Hour
	table, c := newTable(t, lock.Config{CompletionExpiry: expiry})
	payload := []byte(`{"order":42}`)
	id := admin.ClaimID("orders", "reserve-stock", "evt-1")
	cl, err := c.Claim(ctx, id, payload)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Truncate(time.Millisecond)
	if err := cl.Lease.Complete(ctx, []byte("receipt")); err != nil {
		t.Fatal(err)
	}
	rec := read(t, table, id)
	sum := sha256.Sum256(payload)
	if rec.CompletedLease != cl.Lease.LeaseID() || rec.CompletedAt.Before(before) || rec.DoneUntil.Sub(rec.CompletedAt) != expiry ||
		!bytes.Equal(rec.Result, []byte("receipt")) || rec.PayloadHash != hex.EncodeToString(sum[:]) || !rec.Released {
		t.Errorf("record of a completed claim %+v", rec)
	}
	if rec.CleanupAt.Before(rec.DoneUntil) {
		t.Errorf("the item may be deleted at %s, before its completion stops answering at %s", rec.CleanupAt, rec.DoneUntil)
	}
}

// TestClaimID: an event's claim ID is its namespace's, the same for the
// same event, and another for another scope or keys.
func TestClaimID(t *testing.T) {
	t.Parallel()
	id := admin.ClaimID("orders", "reserve-stock", "evt-1")
	if !strings.HasPrefix(id, "orders/idempotency#") {
		t.Errorf("ClaimID = %q, want it under orders/idempotency#", id)
	}
	if again := admin.ClaimID("orders", "reserve-stock", "evt-1"); again != id {
		t.Errorf("ClaimID is not deterministic: %s, then %s", id, again)
	}
	for _, other := range []string{
		admin.ClaimID("orders", "", "evt-1"),
		admin.ClaimID("orders", "reserve-stock", "evt-2"),
		admin.ClaimID("orders", "reserve-stock", "evt-1", ""),
		admin.ClaimID("billing", "reserve-stock", "evt-1"),
	} {
		if other == id {
			t.Errorf("two events share the claim %s", id)
		}
	}
}

// TestTableDefinition: the definition is the original DynaLock's table,
// and its CreateTable request says so.
func TestTableDefinition(t *testing.T) {
	t.Parallel()
	if admin.Table.PartitionKey != "LockId" || admin.Table.PartitionKeyType != types.ScalarAttributeTypeS || admin.Table.TTLAttribute != "TTL" {
		t.Errorf("Table = %+v, want LockId (S) with TTL on TTL", admin.Table)
	}
	in := admin.Table.CreateTableInput("locks")
	if aws.ToString(in.TableName) != "locks" || len(in.KeySchema) != 1 || aws.ToString(in.KeySchema[0].AttributeName) != "LockId" ||
		in.KeySchema[0].KeyType != types.KeyTypeHash || len(in.AttributeDefinitions) != 1 ||
		in.AttributeDefinitions[0].AttributeType != types.ScalarAttributeTypeS || in.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("CreateTableInput = %+v", in)
	}
}
