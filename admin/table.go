package admin

import (
	"context"
	"errors"
	"fmt"
	"github.com/dynalock/dynalock/internal/lockitem"
	"github.com/dynalock/dynalock/lock"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrNotLockTable means a table exists under the lock table's name but has
// another shape: another key schema, or TTL on another attribute.
// CreateTable reports it, naming what it found and what a lock table needs,
// and leaves the table as it is. The lock's acquire reports it too, when
// the table's key does not fit.
var ErrNotLockTable = lockitem.ErrNotLockTable

// Table describes the seed's lock table: partition key LockId (S), no sort
// key, TTL on TTL, as lock.Config's zero values. TableFor describes a
// table of another shape. Billing, encryption and recovery are left to the
// code that creates the table.
var Table = TableDefinition{
	PartitionKey:     lockitem.PartitionKey,
	PartitionKeyType: types.ScalarAttributeTypeS,
	TTLAttribute:     lockitem.TTLAttribute,
}

// TableDefinition is the shape of a lock table, and where lock items sit
// in it: lock.Config's fields of the same names (TableFor).
type TableDefinition struct {
	// PartitionKey is the partition key attribute, of type PartitionKeyType
	// (S: the only type a lock table's key can have).
	PartitionKey     string
	PartitionKeyType types.ScalarAttributeType
	// TTLAttribute is the TTL attribute (type N, epoch seconds). DynaLock
	// writes it for clean-up only; expiry never depends on it.
	TTLAttribute string
	// SortKey is the sort key attribute (type S), "" for none; lock items
	// carry SortKeyValue in it.
	SortKey, SortKeyValue string
	// PartitionKeyPrefix is prepended to lock IDs in the partition key.
	PartitionKeyPrefix string
}

// TableAPI is the part of *dynamodb.Client that [CreateTable] uses.
type TableAPI interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	DescribeTimeToLive(context.Context, *dynamodb.DescribeTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// CreateTableInput returns the CreateTable request for a lock table named
// name, with on-demand billing.
func (d TableDefinition) CreateTableInput(name string) *dynamodb.CreateTableInput {
	if d.SortKey != "" {
		in := Table.CreateTableInput(name)
		in.AttributeDefinitions = []types.AttributeDefinition{
			{AttributeName: aws.String(d.PartitionKey), AttributeType: d.PartitionKeyType},
			{AttributeName: aws.String(d.SortKey), AttributeType: types.ScalarAttributeTypeS},
		}
		in.KeySchema = []types.KeySchemaElement{
			{AttributeName: aws.String(d.PartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(d.SortKey), KeyType: types.KeyTypeRange},
		}
		return in
	}
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
// tables belong in infrastructure code.
//
// A table that already exists is checked first: if its key is not the lock
// table's (LockId, type S, and no sort key) or its TTL is on another
// attribute, CreateTable changes nothing and returns an error matching
// ErrNotLockTable that names what it found and what is needed. A lock
// table that exists without TTL gets it. It creates the seed's table
// (Table.CreateTable); TableDefinition.CreateTable creates another shape.
func CreateTable(ctx context.Context, db TableAPI, name string) error {
	return Table.CreateTable(ctx, db, name)
}

// CreateTable creates a table of shape d named name, as the function
// CreateTable does, and refuses, unchanged, a table of that name keyed
// otherwise than d or with TTL on another attribute than d's. A shared
// table keyed as d, with the application's items in it, is accepted.
func (d TableDefinition) CreateTable(ctx context.Context, db TableAPI, name string) error {
	if name == "" {
		return fmt.Errorf("admin: create table: %w: empty table name", lock.ErrInvalidInput)
	}
	if err := d.check(); err != nil {
		return fmt.Errorf("admin: create table %q: %w", name, err)
	}
	_, err := db.CreateTable(ctx, d.CreateTableInput(name))
	var inUse *types.ResourceInUseException
	existed := errors.As(err, &inUse)
	if err != nil && !existed {
		return fmt.Errorf("lock: create table %q: %w", name, err)
	}
	desc, err := waitActive(ctx, db, name)
	if err != nil {
		return err
	}
	if existed {
		if err := d.checkKey(name, desc); err != nil {
			return err
		}
	}
	out, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		return fmt.Errorf("lock: describe TTL of %q: %w", name, err)
	}
	if on, err := d.checkTTL(name, out.TimeToLiveDescription); on || err != nil {
		return err
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(d.TTLAttribute),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil && !isTTLAlreadyEnabled(err) {
		return fmt.Errorf("lock: enable TTL on %q: %w", name, err)
	}
	return nil
}

// checkKey returns an error matching ErrNotLockTable unless the table
// desc describes has d's key: d.PartitionKey of d.PartitionKeyType and
// d.SortKey (S), or no sort key.
func (d TableDefinition) checkKey(name string, desc *types.TableDescription) error {
	typeOf := map[string]types.ScalarAttributeType{}
	for _, a := range desc.AttributeDefinitions {
		typeOf[aws.ToString(a.AttributeName)] = a.AttributeType
	}
	var found []string
	want := map[types.KeyType]string{types.KeyTypeHash: d.PartitionKey}
	wantType := map[types.KeyType]types.ScalarAttributeType{types.KeyTypeHash: d.PartitionKeyType}
	if d.SortKey != "" {
		want[types.KeyTypeRange], wantType[types.KeyTypeRange] = d.SortKey, types.ScalarAttributeTypeS
	}
	ok := len(desc.KeySchema) == len(want)
	for _, k := range desc.KeySchema {
		attr := aws.ToString(k.AttributeName)
		role := "partition key"
		if k.KeyType == types.KeyTypeRange {
			role = "sort key"
		}
		found = append(found, fmt.Sprintf("%s %s (%s)", role, attr, typeOf[attr]))
		ok = ok && attr == want[k.KeyType] && typeOf[attr] == wantType[k.KeyType]
	}
	if ok {
		return nil
	}
	needs := fmt.Sprintf("partition key %s (%s) and no sort key", d.PartitionKey, d.PartitionKeyType)
	if d.SortKey != "" {
		needs = fmt.Sprintf("partition key %s (%s) and sort key %s (S)", d.PartitionKey, d.PartitionKeyType, d.SortKey)
	}
	return fmt.Errorf("%w: table %q has %s; DynaLock needs %s; not changed "+
		"(pick another table name, or give the lock the table's key names: lock.Config, admin.TableFor)",
		ErrNotLockTable, name, strings.Join(found, " and "), needs)
}

// checkTTL reports whether TTL is on (or turning on) for d.TTLAttribute in
// the table whose TTL desc describes, and returns an error matching
// ErrNotLockTable if it is on for another attribute.
func (d TableDefinition) checkTTL(name string, desc *types.TimeToLiveDescription) (on bool, err error) {
	if desc == nil {
		return false, nil
	}
	switch desc.TimeToLiveStatus {
	case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
	default:
		return false, nil
	}
	if attr := aws.ToString(desc.AttributeName); attr != d.TTLAttribute {
		return false, fmt.Errorf("%w: table %q has TTL on attribute %q; DynaLock needs it on %q (epoch seconds), "+
			"where it writes each lock's clean-up time; not changed", ErrNotLockTable, name, attr, d.TTLAttribute)
	}
	return true, nil
}

// waitActive waits until the table name is active and returns its
// description.
func waitActive(ctx context.Context, db TableAPI, name string) (*types.TableDescription, error) {
	for {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("lock: describe table %q: %w", name, err)
		}
		if out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			return out.Table, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock: table %q not active: %w", name, context.Cause(ctx))
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
