package lock

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/lockitem"
)

// The item's layout is lockitem's, shared with the operators' package.
const (
	attrLease          = lockitem.AttrLease
	attrOwner          = lockitem.AttrOwner
	attrToken          = lockitem.AttrToken
	attrExpiresAt      = lockitem.AttrExpiresAt
	attrAcquiredAt     = lockitem.AttrAcquiredAt
	attrHost           = lockitem.AttrHost
	attrRequestID      = lockitem.AttrRequestID
	attrMetadata       = lockitem.AttrMetadata
	attrReleasedLease  = lockitem.AttrReleasedLease
	attrForcedLease    = lockitem.AttrForcedLease
	attrCompletedLease = lockitem.AttrCompletedLease
	attrCompletedAt    = lockitem.AttrCompletedAt
	attrDoneUntil      = lockitem.AttrDoneUntil
	attrResult         = lockitem.AttrResult
	attrPayloadHash    = lockitem.AttrPayloadHash
	attrReleasedAt     = lockitem.AttrReleasedAt
	partitionKey       = lockitem.PartitionKey
	ttlAttribute       = lockitem.TTLAttribute
)

type record = lockitem.Record

func parseRecord(item map[string]types.AttributeValue) (record, error) { return lockitem.Parse(item) }

func holderOf(r record) Holder { return Holder(r.Holder) }

func sAttr(s string) types.AttributeValue { return lockitem.S(s) }

func nAttr(n int64) types.AttributeValue { return lockitem.N(n) }

func keyOf(id string) map[string]types.AttributeValue { return lockitem.Key(id) }

func cleanupAt(end time.Time, retention time.Duration) int64 {
	return lockitem.CleanupAt(end, retention)
}

func releaseInput(table, id, leaseID string, now time.Time, retention time.Duration) *dynamodb.UpdateItemInput {
	return lockitem.ReleaseInput(table, id, leaseID, now, retention)
}
