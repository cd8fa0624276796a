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
)

type record = lockitem.Record

// parseRecord decodes a lock item of the client's table.
func (c *Client) parseRecord(item map[string]types.AttributeValue) (record, error) {
	return c.shape.Parse(item)
}

func holderOf(r record) Holder { return Holder(r.Holder) }

func sAttr(s string) types.AttributeValue { return lockitem.S(s) }

func nAttr(n int64) types.AttributeValue { return lockitem.N(n) }

// keyOf is the key of lock id's item in the client's table.
func (c *Client) keyOf(id string) map[string]types.AttributeValue { return c.shape.Key(id) }

func cleanupAt(end time.Time, retention time.Duration) int64 {
	return lockitem.CleanupAt(end, retention)
}

func (c *Client) releaseInput(id, leaseID string, now time.Time, retention time.Duration) *dynamodb.UpdateItemInput {
	return c.shape.ReleaseInput(c.table, id, leaseID, now, retention)
}
