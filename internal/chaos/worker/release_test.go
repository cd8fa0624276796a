package worker

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/chaos/history"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// forcedDB grants every acquire, and refuses the release of lock "taken"
// as DynamoDB would once an operator force-released the lease there.
type forcedDB struct{ capturingDB }

func (d *forcedDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if opName(in) == history.OpRelease && lockID(admin.Table, in) == "taken" {
		lease := in.ExpressionAttributeValues[":lease"]
		return nil, &types.ConditionalCheckFailedException{Message: new(string), Item: map[string]types.AttributeValue{
			admin.Table.PartitionKey: in.Key[admin.Table.PartitionKey],
			"LeaseId":                lease, attrReleasedLease: lease, attrForcedLease: lease,
			"ReleasedBy": &types.AttributeValueMemberS{Value: "operator"},
			"Token":      &types.AttributeValueMemberN{Value: "7"},
			"ExpiresAt":  &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10)},
		}}
	}
	return d.capturingDB.UpdateItem(ctx, in, o...)
}

// TestReleaseResultNamesTheLostLock: the v0.1 lock reports a lost lock by
// an error matching lock.ErrLockLost, its ID only in the message; of a
// lease of two lock IDs whose release found one force-released, the worker
// records that one lost and the other released.
func TestReleaseResultNamesTheLostLock(t *testing.T) {
	ctx := context.Background()
	c, err := lock.NewClient(ctx, lock.Config{TableName: "locks", DynamoDB: &forcedDB{}, ClockSkewTolerance: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Lock("kept", "taken").Do(ctx, func(context.Context) error { return nil }, lockopt.TTL(time.Second))
	if !errors.Is(err, lock.ErrLockLost) {
		t.Fatalf("Do: %v, want ErrLockLost", err)
	}
	if res, msg := releaseResult("taken", err, false); res != history.ResultLost || msg == "" {
		t.Errorf("taken: %s %q, want lost", res, msg)
	}
	if res, msg := releaseResult("kept", err, false); res != history.ResultReleased {
		t.Errorf("kept: %s %q, want released", res, msg)
	}
}
