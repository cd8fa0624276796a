package lockitem

import (
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DefaultRetention is how long an item is kept after its lease ends or it
// is released before DynamoDB's TTL clean-up may delete it.
const DefaultRetention = 24 * time.Hour

// ErrNotLockTable means a table exists under the lock table's name but has
// another shape: another key schema, or TTL on another attribute.
var ErrNotLockTable = errors.New("lock: not a lock table")

// ReleaseInput marks leaseID released, if it is still the item's lease
// and was not released yet: not by its holder (an earlier attempt whose
// answer was lost), not by the completion of its claim, not by an
// operator. A release never rewrites a released item, so it cannot move a
// completion's TTL (its DoneUntil plus the retention) to its own time plus
// the retention, which could let DynamoDB delete a completion that must
// still answer duplicates. The lease ID stays in the item, so a retried
// release finds its own lease released, and its caller is told it went
// through.
func ReleaseInput(table, id, leaseID string, now time.Time, retention time.Duration) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:           aws.String(table),
		Key:                 Key(id),
		UpdateExpression:    aws.String("SET #rel = :lease, #relAt = :now, #ttl = :ttl REMOVE #rby, #rwhy"),
		ConditionExpression: aws.String("#lease = :lease AND NOT (#rel = :lease) AND NOT (#forced = :lease)"),
		ExpressionAttributeNames: map[string]string{
			"#rel": AttrReleasedLease, "#relAt": AttrReleasedAt, "#ttl": TTLAttribute, "#lease": AttrLease,
			"#rby": AttrReleasedBy, "#rwhy": AttrReleaseReason, "#forced": AttrForcedLease,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":lease": S(leaseID),
			":now":   N(now.UnixMilli()),
			":ttl":   N(CleanupAt(now, retention)),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// ForceReleaseInput is the request an operator's tool sends to release a
// lock it has seen held with leaseID and token, recording who did it and
// why. It fails with a ConditionalCheckFailedException (carrying the
// current item) if the lock has changed hands or was released since. The
// holder's own release and extend then fail with lock.ErrLockLost. It
// counts itself in the item's ForceCount, which lets a holder whose release
// was retried tell this release from its own.
func ForceReleaseInput(table, id, leaseID string, token int64, by, reason string, now time.Time) *dynamodb.UpdateItemInput {
	in := ReleaseInput(table, id, leaseID, now, DefaultRetention)
	in.UpdateExpression = aws.String("SET #rel = :lease, #forced = :lease, #relAt = :now, #ttl = :ttl, #rby = :by, #rwhy = :why ADD #fc :one")
	in.ConditionExpression = aws.String("#lease = :lease AND #tok = :tok AND NOT (#rel = :lease)")
	in.ExpressionAttributeNames["#tok"] = AttrToken
	in.ExpressionAttributeNames["#fc"] = AttrForceCount
	in.ExpressionAttributeValues[":one"] = N(1)
	in.ExpressionAttributeValues[":by"] = S(by)
	in.ExpressionAttributeValues[":why"] = S(reason)
	in.ExpressionAttributeValues[":tok"] = N(token)
	return in
}
