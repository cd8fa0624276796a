package admin_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/lock"
)

// shared is a single table's shape: custom key names, a sort key, a
// prefix, TTL on an attribute of the application's.
var shared = lock.Config{PartitionKey: "pk", SortKey: "sk", SortKeyValue: "LOCK", PartitionKeyPrefix: "lock#", TTLAttribute: "expires"}

// TestCreateTableShape: CreateTable of a custom shape creates that shape,
// accepts a table already keyed so (a shared table), and refuses, without
// changing it, a table keyed otherwise or with TTL elsewhere.
func TestCreateTableShape(t *testing.T) {
	t.Parallel()
	def, err := admin.TableFor(shared)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		name string
		typ  types.ScalarAttributeType
		kind types.KeyType
	}
	pk := key{"pk", types.ScalarAttributeTypeS, types.KeyTypeHash}
	sk := key{"sk", types.ScalarAttributeTypeS, types.KeyTypeRange}
	tests := []struct {
		name     string
		existing []key // nil: no table
		ttlOn    string
		wantErr  []string // substrings of the refusal; none means success
		wantTTL  string
	}{
		{name: "no table", wantTTL: "expires"},
		{name: "shared table, TTL on", existing: []key{pk, sk}, ttlOn: "expires", wantTTL: "expires"},
		{name: "shared table without TTL gets it", existing: []key{pk, sk}, wantTTL: "expires"},
		{name: "seed's table", existing: []key{{"LockId", types.ScalarAttributeTypeS, types.KeyTypeHash}},
			wantErr: []string{"partition key LockId (S)", "needs partition key pk (S) and sort key sk (S)", "not changed"}},
		{name: "no sort key", existing: []key{pk},
			wantErr: []string{"partition key pk (S);", "sort key sk (S)"}},
		{name: "sort key of type N", existing: []key{pk, {"sk", types.ScalarAttributeTypeN, types.KeyTypeRange}},
			wantErr: []string{"sort key sk (N)", "sort key sk (S)"}},
		{name: "keys swapped", existing: []key{{"sk", types.ScalarAttributeTypeS, types.KeyTypeHash}, {"pk", types.ScalarAttributeTypeS, types.KeyTypeRange}},
			wantErr: []string{"partition key sk (S)", "needs partition key pk (S)"}},
		{name: "TTL elsewhere", existing: []key{pk, sk}, ttlOn: "TTL",
			wantErr: []string{`TTL on attribute "TTL"`, `needs it on "expires"`}, wantTTL: "TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			db, table := srv.Client(), dynamotest.TableName(t)
			if tt.existing != nil {
				in := &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest}
				for _, k := range tt.existing {
					in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(k.name), AttributeType: k.typ})
					in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String(k.name), KeyType: k.kind})
				}
				if _, err := db.CreateTable(ctx, in); err != nil {
					t.Fatal(err)
				}
				if tt.ttlOn != "" {
					enableTTL(ctx, t, db, table, tt.ttlOn)
				}
			}

			err := def.CreateTable(ctx, db, table)

			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("CreateTable: %v", err)
			}
			if len(tt.wantErr) > 0 {
				if !errors.Is(err, admin.ErrNotLockTable) {
					t.Fatalf("CreateTable: %v, want ErrNotLockTable", err)
				}
				for _, s := range append(tt.wantErr, table) {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
			}
			if got := ttlAttribute(ctx, t, db, table); got != tt.wantTTL {
				t.Errorf("TTL on %q after CreateTable, want %q", got, tt.wantTTL)
			}
		})
	}
}

// TestTableFor: the definition of a Config's table, defaults filled in,
// and a shape lock.NewClient refuses refused alike.
func TestTableFor(t *testing.T) {
	t.Parallel()
	if def, err := admin.TableFor(lock.Config{}); err != nil || def != admin.Table {
		t.Errorf("TableFor(zero Config) = %+v, %v; want admin.Table", def, err)
	}
	def, err := admin.TableFor(shared)
	want := admin.TableDefinition{PartitionKey: "pk", PartitionKeyType: types.ScalarAttributeTypeS, TTLAttribute: "expires",
		SortKey: "sk", SortKeyValue: "LOCK", PartitionKeyPrefix: "lock#"}
	if err != nil || def != want {
		t.Errorf("TableFor(shared) = %+v, %v; want %+v", def, err, want)
	}
	for _, bad := range []lock.Config{
		{PartitionKey: "TTL"},
		{SortKey: "sk"},
		{TTLAttribute: "Token"},
	} {
		if _, err := admin.TableFor(bad); !errors.Is(err, lock.ErrInvalidInput) {
			t.Errorf("TableFor(%+v) = %v, want ErrInvalidInput", bad, err)
		}
	}
	bad := admin.Table
	bad.PartitionKeyType = types.ScalarAttributeTypeN
	if err := bad.CreateTable(context.Background(), srv.Client(), dynamotest.TableName(t)); !errors.Is(err, lock.ErrInvalidInput) {
		t.Errorf("CreateTable of a partition key of type N: %v, want ErrInvalidInput", err)
	}
}

// TestSharedTableRecords: in a shared table, Read, Parse, Key,
// ForceReleaseInput and ScanInput see the lock items under their lock IDs
// (prefix stripped) and leave the application's items out.
func TestSharedTableRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, table := srv.Client(), dynamotest.TableName(t)
	def, err := admin.TableFor(shared)
	if err != nil {
		t.Fatal(err)
	}
	if err := def.CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	cfg := shared
	cfg.TableName, cfg.DynamoDB = table, db
	locks, err := lock.NewClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range []map[string]types.AttributeValue{
		{"pk": &types.AttributeValueMemberS{Value: "lock#sku/1"}, "sk": &types.AttributeValueMemberS{Value: "STOCK"}},
		{"pk": &types.AttributeValueMemberS{Value: "sku/1"}, "sk": &types.AttributeValueMemberS{Value: "LOCK"}},
	} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := locks.Lock("sku/1").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := locks.Lock("sku/2").Acquire(ctx); err != nil {
		t.Fatal(err)
	}

	rec, found, err := def.Read(ctx, db, table, "sku/1")
	if err != nil || !found || rec.LockID != "sku/1" || rec.LeaseID != l.LeaseID() || rec.CleanupAt.IsZero() {
		t.Errorf("Read = %+v, %v, %v; want sku/1 held by %s, with its clean-up time", rec, found, err, l.LeaseID())
	}
	if k, err := def.Parse(def.Key("sku/1")); err != nil || k.LockID != "sku/1" {
		t.Errorf("Parse(Key(sku/1)) = %q, %v", k.LockID, err)
	}
	if _, err := def.Parse(map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "sku/1"}, "sk": &types.AttributeValueMemberS{Value: "LOCK"}}); err == nil {
		t.Error("Parse of an application's item without the prefix: no error")
	}

	var ids []string
	for p := dynamodb.NewScanPaginator(db, def.ScanInput(table, "sku/")); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			r, err := def.Parse(it)
			if err != nil {
				t.Errorf("Parse of a scanned item: %v", err)
			}
			ids = append(ids, r.LockID)
		}
	}
	if strings.Join(ids, ",") != "sku/1,sku/2" && strings.Join(ids, ",") != "sku/2,sku/1" {
		t.Errorf("ScanInput found %q, want the two lock items", ids)
	}

	if _, err := db.UpdateItem(ctx, def.ForceReleaseInput(table, "sku/1", rec.LeaseID, rec.Token, "op", "test", time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); !errors.Is(err, lock.ErrLockLost) {
		t.Errorf("release after a force-release: %v, want ErrLockLost", err)
	}
	out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil || out.Count != 4 {
		t.Errorf("%d items in the table, %v; want 2 locks beside 2 application items", out.Count, err)
	}
}
