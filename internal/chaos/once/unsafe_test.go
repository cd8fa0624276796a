package once

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// capturingDB answers every request as DynamoDB would a granted one and
// keeps the requests.
type capturingDB struct{ ins []*dynamodb.UpdateItemInput }

func (c *capturingDB) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.ins = append(c.ins, in)
	item := map[string]types.AttributeValue{admin.Table.PartitionKey: in.Key[admin.Table.PartitionKey], "Token": &types.AttributeValueMemberN{Value: "7"}}
	for k, v := range map[string]string{"LeaseId": ":lease", "ExpiresAt": ":exp"} {
		if x, ok := in.ExpressionAttributeValues[v]; ok {
			item[k] = x
		}
	}
	return &dynamodb.UpdateItemOutput{Attributes: item}, nil
}

func (c *capturingDB) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// TestUnsafeReacquireAndOps: -unsafe-claims reacquire finds, in the lock's
// own claim acquire, the condition that refuses a completed claim, and
// takes it out (if the lock words it otherwise, this fails and the flag
// must follow); the worker's notes name the lock's requests rightly.
func TestUnsafeReacquireAndOps(t *testing.T) {
	db := &capturingDB{}
	ctx := context.Background()
	c, err := lock.NewClient(ctx, lock.Config{TableName: "locks", DynamoDB: db, ClockSkewTolerance: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.Claim(ctx, "once/idempotency#x", []byte(`"p"`), lockopt.TTL(time.Second))
	if err != nil || cl.Lease == nil {
		t.Fatal(cl, err)
	}
	if err := cl.Lease.Extend(ctx, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := cl.Lease.Complete(ctx, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	other, err := c.Claim(ctx, "once/idempotency#y", nil, lockopt.TTL(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, in := range db.ins {
		ops = append(ops, opOf(in))
	}
	if got := strings.Join(ops, " "); got != "acquire extend complete acquire release" {
		t.Fatalf("ops %q", got)
	}
	in := db.ins[0]
	out := reacquireCompleted(in) // panics if the condition is not found
	if strings.Contains(*out.ConditionExpression, claimNotDone) || *out.ConditionExpression == *in.ConditionExpression {
		t.Errorf("condition still refuses a completed claim: %s", *out.ConditionExpression)
	}
	for k := range out.ExpressionAttributeNames {
		if !strings.Contains(*out.ConditionExpression, k) && !strings.Contains(*out.UpdateExpression, k) {
			t.Errorf("name %s left unused", k)
		}
	}
}
