// Package admin is what operators and their tools need beside the lock:
// reading what a lock's item holds, releasing a stuck lock knowing what is
// released, the lock table's definition and creation, and the claim IDs of
// idempotent events. Applications never import it; the dynalock CLI is
// built on it.
package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/claimid"
	"github.com/dynalock/dynalock/internal/lockitem"
	"github.com/dynalock/dynalock/lock"
)

// Record is everything stored for one lock, as operators see it.
type Record struct {
	LockID string
	lock.Holder
	Metadata map[string]string
	// Released is true when the current lease was released.
	Released bool
	// Forced is true when the current lease was released by an operator,
	// not its holder; ReleasedBy and ReleaseReason say who and why.
	Forced        bool
	ReleasedAt    time.Time
	ReleasedBy    string
	ReleaseReason string
	// CleanupAt is the item's TTL: when DynamoDB may delete it.
	CleanupAt time.Time
	// ForcedLease is the last lease an operator released, and ForceCount
	// how many leases operators have released, since the item was created.
	ForcedLease string
	ForceCount  int64
	// For claims (lock.Client.Claim): the lease that completed the work,
	// when, until when the completion answers duplicates, the stored
	// result, and the hash of the claim's payload.
	CompletedLease         string
	CompletedAt, DoneUntil time.Time
	Result                 []byte
	PayloadHash            string
	// For the middleware's idempotency claims: how the event was keyed,
	// and the last forget of a completion (ForgetInput).
	Keying    Keying
	Forgotten Forgotten
}

// Held reports whether the record's lease is held at now: not released and
// not ended.
func (r Record) Held(now time.Time) bool {
	return r.LeaseID != "" && !r.Released && now.Before(r.ExpiresAt)
}

// Parse decodes a lock item as read from the seed's table (Table.Parse);
// TableDefinition.Parse decodes one of another shape.
func Parse(item map[string]types.AttributeValue) (Record, error) { return Table.Parse(item) }

// recordOf is item, decoded as r (or err), as operators see it.
func recordOf(item map[string]types.AttributeValue, r lockitem.Record, err error) (Record, error) {
	f, ferr := lockitem.ParseForget(item)
	if err == nil {
		err = ferr
	}
	return Record{
		Keying: keyingOf(r.LockID, r.Metadata), Forgotten: Forgotten(f),
		LockID: r.LockID, Holder: lock.Holder(r.Holder), Metadata: r.Metadata,
		Released: r.Released, Forced: r.Forced, ReleasedAt: r.ReleasedAt, ReleasedBy: r.ReleasedBy, ReleaseReason: r.ReleaseReason,
		CleanupAt: r.CleanupAt, ForcedLease: r.ForcedLease, ForceCount: r.ForceCount,
		CompletedLease: r.CompletedLease, CompletedAt: r.CompletedAt, DoneUntil: r.DoneUntil, Result: r.Result, PayloadHash: r.PayloadHash,
	}, err
}

// GetItemAPI is the part of *dynamodb.Client that Read uses.
type GetItemAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Read reads what is stored for the lock id in table, with a strongly
// consistent read; the lock itself never reads. found is false when the
// lock has no item. It reads the seed's table (Table.Read);
// TableDefinition.Read reads one of another shape.
func Read(ctx context.Context, db GetItemAPI, table, id string) (rec Record, found bool, err error) {
	return Table.Read(ctx, db, table, id)
}

// Read reads what is stored for the lock id in table, a table of shape d,
// as the function Read does.
func (d TableDefinition) Read(ctx context.Context, db GetItemAPI, table, id string) (rec Record, found bool, err error) {
	if err := d.shape().CheckID(id); err != nil {
		return Record{}, false, fmt.Errorf("%w: %w", lock.ErrInvalidInput, err)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            d.shape().Key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Record{}, false, fmt.Errorf("admin: read %q: %w", id, err)
	}
	if len(out.Item) == 0 {
		return Record{}, false, nil
	}
	rec, err = d.Parse(out.Item)
	if err != nil {
		return Record{}, true, fmt.Errorf("admin: read %q: %w", id, err)
	}
	return rec, true, nil
}

// ForceReleaseInput is the request that releases a lock an operator has
// seen held with leaseID and token, recording who did it and why. It fails
// with a ConditionalCheckFailedException (carrying the current item, for
// Parse) if the lock has changed hands or was released since. The
// holder's own release and extend then fail with lock.ErrLockLost. It is
// the seed's table's (Table.ForceReleaseInput).
func ForceReleaseInput(table, id, leaseID string, token int64, by, reason string, now time.Time) *dynamodb.UpdateItemInput {
	return Table.ForceReleaseInput(table, id, leaseID, token, by, reason, now)
}

// ForceReleaseInput is the function ForceReleaseInput for a table of
// shape d.
func (d TableDefinition) ForceReleaseInput(table, id, leaseID string, token int64, by, reason string, now time.Time) *dynamodb.UpdateItemInput {
	return d.shape().ForceReleaseInput(table, id, leaseID, token, by, reason, now)
}

// ClaimID returns the lock ID of an idempotent event's claim, as the
// Lambda middleware derives it: under namespace, for the function scope
// (its name, AWS_LAMBDA_FUNCTION_NAME; "" where it had none), from the
// event's idempotency keys. Operators use it to find an event's record.
func ClaimID(namespace, scope string, keys ...string) string {
	return claimid.ID(namespace, scope, keys...)
}
