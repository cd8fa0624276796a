package worker

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/chaos/history"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// capturingDB answers every request as DynamoDB would a granted one and
// keeps the requests. A lease of several lock IDs sends at once.
type capturingDB struct {
	mu  sync.Mutex // protects ins
	ins []*dynamodb.UpdateItemInput
}

func (c *capturingDB) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.mu.Lock()
	c.ins = append(c.ins, in)
	c.mu.Unlock()
	item := map[string]types.AttributeValue{admin.Table.PartitionKey: in.Key[admin.Table.PartitionKey]}
	for k, v := range map[string]string{"LeaseId": ":lease", "ExpiresAt": ":exp"} {
		if x, ok := in.ExpressionAttributeValues[v]; ok {
			item[k] = x
		}
	}
	item["Token"] = &types.AttributeValueMemberN{Value: "7"}
	return &dynamodb.UpdateItemOutput{Attributes: item}, nil
}

func (c *capturingDB) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// TestRevertConditions: -unsafe-conditions finds, in the lock's own
// requests, the conditions that fixed issue 11's bugs 2 and 3, and takes
// them out; if the lock words them otherwise, this fails and the flag
// must follow.
func TestRevertConditions(t *testing.T) {
	db := &capturingDB{}
	ctx := context.Background()
	c, err := lock.NewClient(ctx, lock.Config{TableName: "locks", DynamoDB: db, ClockSkewTolerance: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Lock("L").Acquire(ctx, lockopt.TTL(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Extend(ctx, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, in := range db.ins {
		op := opName(in)
		out := revertConditions(in) // panics if a fix is not found
		for _, r := range reverts[op] {
			if strings.Contains(*out.ConditionExpression, r[0]) {
				t.Errorf("%s: %q still in %s", op, r[0], *out.ConditionExpression)
			}
		}
		if *in.ConditionExpression == *out.ConditionExpression && len(reverts[op]) > 0 {
			t.Errorf("%s: condition unchanged", op)
		}
		for k := range out.ExpressionAttributeNames {
			if !strings.Contains(*out.ConditionExpression, k) && !strings.Contains(*out.UpdateExpression, k) {
				t.Errorf("%s: name %s left unused", op, k)
			}
		}
	}
	if got := len(db.ins); got != 2 || opName(db.ins[0]) != history.OpAcquire || opName(db.ins[1]) != history.OpExtend {
		t.Errorf("%d requests", got)
	}
}
