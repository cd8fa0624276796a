package admin

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/lockitem"
	"github.com/dynalock/dynalock/lock"
)

// TableFor returns the definition of the table cfg's locks live in: its
// key and TTL attributes, the sort key value and partition key prefix of
// lock items (lock.Config's fields of the same names, defaults filled
// in). Only the shape of cfg counts; its other fields are ignored. It fails
// with lock.ErrInvalidInput where lock.NewClient would refuse the shape.
//
//	def, err := admin.TableFor(locks.Config())
//	rec, found, err := def.Read(ctx, db, table, "sku/42")
func TableFor(cfg lock.Config) (TableDefinition, error) {
	s := lockitem.Shape{
		PartitionKey: cfg.PartitionKey, SortKey: cfg.SortKey, SortKeyValue: cfg.SortKeyValue,
		Prefix: cfg.PartitionKeyPrefix, TTLAttribute: cfg.TTLAttribute,
	}.Resolved()
	if err := s.Check(); err != nil {
		return TableDefinition{}, fmt.Errorf("%w: table shape: %w", lock.ErrInvalidInput, err)
	}
	return TableDefinition{
		PartitionKey: s.PartitionKey, PartitionKeyType: types.ScalarAttributeTypeS, TTLAttribute: s.TTLAttribute,
		SortKey: s.SortKey, SortKeyValue: s.SortKeyValue, PartitionKeyPrefix: s.Prefix,
	}, nil
}

// shape is d as the lock item's layout sees it.
func (d TableDefinition) shape() lockitem.Shape {
	return lockitem.Shape{
		PartitionKey: d.PartitionKey, SortKey: d.SortKey, SortKeyValue: d.SortKeyValue,
		Prefix: d.PartitionKeyPrefix, TTLAttribute: d.TTLAttribute,
	}
}

// check reports a definition that no lock client could use, matching
// lock.ErrInvalidInput.
func (d TableDefinition) check() error {
	if d.PartitionKeyType != types.ScalarAttributeTypeS {
		return fmt.Errorf("%w: partition key type %q: a lock table's partition key is of type S", lock.ErrInvalidInput, d.PartitionKeyType)
	}
	if d.PartitionKey == "" || d.TTLAttribute == "" {
		return fmt.Errorf("%w: a table definition needs a partition key and a TTL attribute (admin.TableFor fills them in)", lock.ErrInvalidInput)
	}
	if err := d.shape().Check(); err != nil {
		return fmt.Errorf("%w: table shape: %w", lock.ErrInvalidInput, err)
	}
	return nil
}

// Parse decodes a lock item as read from a table of shape d. An item that
// is not a lock item of d (an application's item in a shared table: another
// sort key value, or a partition key without d's prefix) is an error.
func (d TableDefinition) Parse(item map[string]types.AttributeValue) (Record, error) {
	r, err := d.shape().Parse(item)
	return recordOf(item, r, err)
}

// ScanInput returns a strongly consistent Scan of the lock items of
// table, a table of shape d, whose lock IDs start with prefix (all if
// empty). In a shared table its filter leaves the application's items out:
// it keeps the items with d's sort key value and partition key prefix.
func (d TableDefinition) ScanInput(table, prefix string) *dynamodb.ScanInput {
	in := &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)}
	names, values := map[string]string{}, map[string]types.AttributeValue{}
	var conds []string
	if p := d.PartitionKeyPrefix + prefix; p != "" {
		names["#id"], values[":prefix"] = d.PartitionKey, lockitem.S(p)
		conds = append(conds, "begins_with(#id, :prefix)")
	}
	if d.SortKey != "" {
		names["#sk"], values[":sk"] = d.SortKey, lockitem.S(d.SortKeyValue)
		conds = append(conds, "#sk = :sk")
	}
	if len(conds) > 0 {
		in.FilterExpression = aws.String(strings.Join(conds, " AND "))
		in.ExpressionAttributeNames, in.ExpressionAttributeValues = names, values
	}
	return in
}

// Key is the key of lock id's item in a table of shape d, for the
// requests an operator's tool sends itself (GetItem, DeleteItem). Parse
// of a key gives back its lock ID.
func (d TableDefinition) Key(id string) map[string]types.AttributeValue {
	return d.shape().Key(id)
}

// ForgetInput is the function ForgetInput for a table of shape d.
func (d TableDefinition) ForgetInput(table string, seen Record, by, reason string, now time.Time, force bool) (*dynamodb.UpdateItemInput, error) {
	in, err := ForgetInput(table, seen, by, reason, now, force)
	if err != nil {
		return nil, err
	}
	in.Key = d.Key(seen.LockID)
	if _, ok := in.ExpressionAttributeNames["#ttl"]; ok { // a forced forget's release
		in.ExpressionAttributeNames["#ttl"] = d.shape().Resolved().TTLAttribute
	}
	return in, nil
}
