package lock_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/lock"
)

// TestAcquireOnWrongTable: an acquire against a table whose key is not
// LockId (S) says so, naming the key it needs, instead of passing on
// DynamoDB's ValidationException alone.
func TestAcquireOnWrongTable(t *testing.T) {
	ctx := context.Background()
	name := dynamotest.TableName(t)
	_, err := srv.Client().CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          dtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: dtypes.ScalarAttributeTypeS}},
		KeySchema:            []dtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: dtypes.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := lock.NewClient(ctx, lock.Config{TableName: name, DynamoDB: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Lock("x").Acquire(ctx)
	if !errors.Is(err, lock.ErrLockAcquisition) || !errors.Is(err, admin.ErrNotLockTable) || errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Fatalf("acquire on a table keyed by pk: %v, want ErrLockAcquisition and ErrNotLockTable", err)
	}
	if !strings.Contains(err.Error(), admin.Table.PartitionKey+" (S)") || !strings.Contains(err.Error(), name) {
		t.Errorf("%v does not say that table %q needs partition key %s (S)", err, name, admin.Table.PartitionKey)
	}
}
