// Package testshape is the lock table's shape that the lock and middleware
// suites run in: the seed's table by default, or, with
// DYNALOCK_TEST_TABLE=shared, a shared single table where the lock items sit
// under custom key names, a sort key value and a partition key prefix,
// beside application items that the suites check are left untouched.
package testshape

import (
	"context"
	"fmt"
	"maps"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/lock"
)

// Env selects the shape: "" or "seed" for the seed's table, "shared" for
// the shared one.
const Env = "DYNALOCK_TEST_TABLE"

// Shared is the shared table's shape: key names that are not the seed's
// (the TTL attribute a DynamoDB reserved word), a sort key, a prefix.
var Shared = lock.Config{
	PartitionKey: "PK", SortKey: "SK", SortKeyValue: "LOCK", PartitionKeyPrefix: "lock#", TTLAttribute: "ttl",
}

// AppSortKey is the sort key value of the application's items in the
// shared table.
const AppSortKey = "APP"

// Shape is the shape a suite runs in.
type Shape struct {
	// Name is "seed" or "shared".
	Name string
	// Table is the table's definition, for admin calls.
	Table admin.TableDefinition
	cfg   lock.Config // the shape fields only
}

// FromEnv returns the shape Env selects, and an error for an unknown one.
func FromEnv() (Shape, error) {
	s, err := Named(os.Getenv(Env))
	if err != nil {
		return Shape{}, fmt.Errorf("testshape: %s: %w", Env, err)
	}
	return s, nil
}

// Named returns the shape called name: "" or "seed", or "shared".
func Named(name string) (Shape, error) {
	switch name {
	case "", "seed":
		return Shape{Name: "seed", Table: admin.Table}, nil
	case "shared":
		def, err := admin.TableFor(Shared)
		return Shape{Name: "shared", Table: def, cfg: Shared}, err
	default:
		return Shape{}, fmt.Errorf("table shape %q: want seed or shared", name)
	}
}

// IsShared reports whether the lock table is the shared one, where the
// application's items live beside the locks.
func (s Shape) IsShared() bool { return s.Name == "shared" }

// Apply returns cfg with the shape's fields set.
func (s Shape) Apply(cfg lock.Config) lock.Config {
	cfg.PartitionKey, cfg.SortKey, cfg.SortKeyValue = s.cfg.PartitionKey, s.cfg.SortKey, s.cfg.SortKeyValue
	cfg.PartitionKeyPrefix, cfg.TTLAttribute = s.cfg.PartitionKeyPrefix, s.cfg.TTLAttribute
	return cfg
}

// AppKey is the key of the application item pk: in an application table
// keyed by pk (S) for the seed's shape, in the shared table (PK, and
// AppSortKey) for the shared one.
func (s Shape) AppKey(pk string) map[string]types.AttributeValue {
	if !s.IsShared() {
		return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}
	}
	return map[string]types.AttributeValue{
		s.Table.PartitionKey: &types.AttributeValueMemberS{Value: pk},
		s.Table.SortKey:      &types.AttributeValueMemberS{Value: AppSortKey},
	}
}

// decoyIDs are lock IDs the suites use often: the shared table gets
// application items in their lock items' partitions and under their bare
// IDs, which no lock operation may touch.
var decoyIDs = []string{"job", "k", "x", "a", "id", "42", "test/42", "test/BLUE-MUG", "held"}

// Decoys are the application items Seed puts beside the lock items of a
// shared table: one in each decoy lock item's partition, with the
// application's sort key value, and one under the bare lock ID (no prefix)
// with the locks' sort key value. Empty for the seed's shape.
func (s Shape) Decoys() []map[string]types.AttributeValue {
	if !s.IsShared() {
		return nil
	}
	var items []map[string]types.AttributeValue
	for _, id := range decoyIDs {
		for _, k := range []struct{ pk, sk string }{
			{s.Table.PartitionKeyPrefix + id, AppSortKey},
			{id, s.Table.SortKeyValue},
		} {
			items = append(items, map[string]types.AttributeValue{
				s.Table.PartitionKey: &types.AttributeValueMemberS{Value: k.pk},
				s.Table.SortKey:      &types.AttributeValueMemberS{Value: k.sk},
				"Owner":              &types.AttributeValueMemberS{Value: "the application"},
				"LeaseId":            &types.AttributeValueMemberS{Value: "not-a-lease"},
				"n":                  &types.AttributeValueMemberN{Value: "7"},
			})
		}
	}
	return items
}

// Seed puts the decoys into table, in one request.
func (s Shape) Seed(ctx context.Context, db *dynamodb.Client, table string) error {
	var puts []types.WriteRequest
	for _, it := range s.Decoys() {
		puts = append(puts, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
	}
	for len(puts) > 0 {
		out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: puts}})
		if err != nil {
			return fmt.Errorf("testshape: seed %s: %w", table, err)
		}
		puts = out.UnprocessedItems[table]
	}
	return nil
}

// CheckDecoys reports the decoys of table that a lock operation changed
// or deleted, or nil. It reads them in one request.
func (s Shape) CheckDecoys(ctx context.Context, db *dynamodb.Client, table string) error {
	decoys := s.Decoys()
	if len(decoys) == 0 {
		return nil
	}
	keyOf := func(it map[string]types.AttributeValue) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{s.Table.PartitionKey: it[s.Table.PartitionKey], s.Table.SortKey: it[s.Table.SortKey]}
	}
	id := func(it map[string]types.AttributeValue) string {
		return fmt.Sprint(it[s.Table.PartitionKey], it[s.Table.SortKey])
	}
	keys := &types.KeysAndAttributes{ConsistentRead: aws.Bool(true)}
	for _, it := range decoys {
		keys.Keys = append(keys.Keys, keyOf(it))
	}
	found := map[string]map[string]types.AttributeValue{}
	for keys != nil && len(keys.Keys) > 0 {
		out, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{table: *keys}})
		if err != nil {
			return fmt.Errorf("testshape: read the decoys: %w", err)
		}
		for _, it := range out.Responses[table] {
			found[id(it)] = it
		}
		next, ok := out.UnprocessedKeys[table]
		keys = nil
		if ok {
			keys = &next
		}
	}
	var bad []string
	for _, want := range decoys {
		got := found[id(want)]
		if !maps.EqualFunc(got, want, func(a, b types.AttributeValue) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
			bad = append(bad, fmt.Sprintf("%v: %v", keyOf(want), got))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("testshape: application items beside the locks were changed: %s", strings.Join(bad, "; "))
	}
	return nil
}
