package lock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of the lock table's key and TTL, as the original
// DynaLock's table declares them. Infrastructure code builds its table from
// these, so the lock and the table cannot drift apart.
const (
	// PartitionKey is the table's partition key attribute (type S).
	PartitionKey = "LockId"
	// TTLAttribute is the table's TTL attribute (type N, epoch seconds).
	// DynaLock writes it for clean-up only; expiry never depends on it.
	TTLAttribute = "TTL"
)

// Table describes the lock table: the key schema and TTL attribute that
// every lock table needs. Billing, encryption and recovery are left to the
// code that creates the table.
var Table = TableDefinition{
	PartitionKey:     PartitionKey,
	PartitionKeyType: types.ScalarAttributeTypeS,
	TTLAttribute:     TTLAttribute,
}

// TableDefinition is the shape of a lock table.
type TableDefinition struct {
	PartitionKey     string
	PartitionKeyType types.ScalarAttributeType
	TTLAttribute     string
}

// TableAPI is the part of *dynamodb.Client that [CreateTable] uses.
type TableAPI interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// CreateTableInput returns the CreateTable request for a lock table named
// name, with on-demand billing.
func (d TableDefinition) CreateTableInput(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(d.PartitionKey), AttributeType: d.PartitionKeyType},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(d.PartitionKey), KeyType: types.KeyTypeHash},
		},
	}
}

// CreateTable creates a lock table named name, waits until it is active and
// enables TTL on it. It is meant for local development and tests; production
// tables belong in infrastructure code. A table that already exists is not
// an error: its TTL setting is made sure of all the same.
func CreateTable(ctx context.Context, db TableAPI, name string) error {
	if name == "" {
		return fmt.Errorf("lock: create table: %w: empty table name", ErrInvalidInput)
	}
	_, err := db.CreateTable(ctx, Table.CreateTableInput(name))
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("lock: create table %q: %w", name, err)
	}
	if err := waitActive(ctx, db, name); err != nil {
		return err
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(Table.TTLAttribute),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil && !isTTLAlreadyEnabled(err) {
		return fmt.Errorf("lock: enable TTL on %q: %w", name, err)
	}
	return nil
}

func waitActive(ctx context.Context, db TableAPI, name string) error {
	for {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("lock: describe table %q: %w", name, err)
		}
		if out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lock: table %q not active: %w", name, context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// isTTLAlreadyEnabled reports whether UpdateTimeToLive failed only because
// TTL is already enabled, which DynamoDB reports as a ValidationException.
func isTTLAlreadyEnabled(err error) bool {
	var ve interface{ ErrorMessage() string }
	return errors.As(err, &ve) && strings.Contains(strings.ToLower(ve.ErrorMessage()), "already enabled")
}
