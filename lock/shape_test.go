package lock_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/lock"
)

// TestConfigShape: NewClient refuses a table shape that cannot work, with
// ErrInvalidInput and before any request, and takes reserved words.
func TestConfigShape(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 256)
	tests := []struct {
		name  string
		cfg   lock.Config
		valid bool
	}{
		{"seed's", lock.Config{}, true},
		{"reserved words", lock.Config{PartitionKey: "KEY", SortKey: "RANGE", SortKeyValue: "DATA", TTLAttribute: "ttl"}, true},
		{"prefix only", lock.Config{PartitionKey: "pk", PartitionKeyPrefix: "lock#"}, true},
		{"longest prefix", lock.Config{PartitionKeyPrefix: strings.Repeat("p", 2047)}, true},
		{"key name of 255 bytes", lock.Config{PartitionKey: long[:255]}, true},
		{"key name of 256 bytes", lock.Config{PartitionKey: long}, false},
		{"partition key is the TTL attribute", lock.Config{PartitionKey: "TTL"}, false},
		{"TTL attribute is the partition key", lock.Config{TTLAttribute: "LockId"}, false},
		{"sort key is the partition key", lock.Config{SortKey: "LockId", SortKeyValue: "v"}, false},
		{"sort key is the TTL attribute", lock.Config{SortKey: "TTL", SortKeyValue: "v"}, false},
		{"TTL on the lease end", lock.Config{TTLAttribute: "ExpiresAt"}, false},
		{"partition key is a lock attribute", lock.Config{PartitionKey: "LeaseId"}, false},
		{"sort key is a lock attribute", lock.Config{SortKey: "Result", SortKeyValue: "v"}, false},
		{"sort key without a value", lock.Config{SortKey: "sk"}, false},
		{"sort key value without a sort key", lock.Config{SortKeyValue: "LOCK"}, false},
		{"sort key value over 1024 bytes", lock.Config{SortKey: "sk", SortKeyValue: strings.Repeat("v", 1025)}, false},
		{"name not UTF-8", lock.Config{TTLAttribute: "t\xff"}, false},
		{"sort key value not UTF-8", lock.Config{SortKey: "sk", SortKeyValue: "\xff"}, false},
		{"prefix not UTF-8", lock.Config{PartitionKeyPrefix: "\xff"}, false},
		{"prefix that leaves no room", lock.Config{PartitionKeyPrefix: strings.Repeat("p", 2048)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.TableName, cfg.DynamoDB = "t", &refuseAll{}
			c, err := lock.NewClient(context.Background(), cfg)
			if tt.valid != (err == nil) || (err != nil && !errors.Is(err, lock.ErrInvalidInput)) {
				t.Fatalf("NewClient: %v, want valid %v (else ErrInvalidInput)", err, tt.valid)
			}
			if err != nil && !strings.Contains(err.Error(), "table shape") {
				t.Errorf("%v does not say it is the table's shape", err)
			}
			if err == nil && (c.Config().PartitionKey == "" || c.Config().TTLAttribute == "") {
				t.Errorf("Config() = %+v, want the key and TTL attributes filled in", c.Config())
			}
		})
	}
	t.Run("lock ID too long with the prefix", func(t *testing.T) {
		t.Parallel()
		cfg := lock.Config{TableName: "t", DynamoDB: &refuseAll{}, PartitionKeyPrefix: "lock#", LockID: strings.Repeat("x", 2044)}
		if _, err := lock.New(context.Background(), cfg); !errors.Is(err, lock.ErrInvalidInput) {
			t.Errorf("New: %v, want ErrInvalidInput", err)
		}
		cfg.LockID = strings.Repeat("x", 2043)
		if _, err := lock.New(context.Background(), cfg); err != nil {
			t.Errorf("New with 2043 + 5 bytes: %v", err)
		}
	})
}

// refuseAll is a DynamoDBAPI that fails the test's expectations if used.
type refuseAll struct{ lock.DynamoDBAPI }

// recorder records every expression a client sends.
type recorder struct {
	lock.DynamoDBAPI
	mu    sync.Mutex // protects exprs
	exprs []string
}

func (r *recorder) add(s ...*string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range s {
		if e != nil {
			r.exprs = append(r.exprs, *e)
		}
	}
}

func (r *recorder) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	r.add(in.UpdateExpression, in.ConditionExpression)
	return r.DynamoDBAPI.UpdateItem(ctx, in, o...)
}

func (r *recorder) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	for _, it := range in.TransactItems {
		switch {
		case it.Update != nil:
			r.add(it.Update.UpdateExpression, it.Update.ConditionExpression)
		case it.ConditionCheck != nil:
			r.add(it.ConditionCheck.ConditionExpression)
		}
	}
	return r.DynamoDBAPI.TransactWriteItems(ctx, in, o...)
}

// TestShapeReservedNames runs every kind of lock request in a table whose
// key and TTL attributes are DynamoDB reserved words (which DynamoDB
// refuses in an expression, unless named through ExpressionAttributeNames),
// with the application's items beside the locks in the same table, and
// checks that no expression names them directly.
func TestShapeReservedNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	table := dynamotest.TableName(t)
	shape := lock.Config{PartitionKey: "Key", SortKey: "Range", SortKeyValue: "lock", PartitionKeyPrefix: "L#", TTLAttribute: "Data"}
	def, err := admin.TableFor(shape)
	if err != nil {
		t.Fatal(err)
	}
	if err := def.CreateTable(ctx, srv.Client(), table); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{DynamoDBAPI: srv.Client()}
	cfg := shape
	cfg.TableName, cfg.DynamoDB, cfg.ClockSkewTolerance, cfg.TTL = table, rec, testSkew, 30*time.Second
	c, err := lock.NewClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	app := func(id string) dtypes.TransactWriteItem {
		return dtypes.TransactWriteItem{Update: &dtypes.Update{
			TableName: aws.String(table),
			Key: map[string]dtypes.AttributeValue{
				"Key": &dtypes.AttributeValueMemberS{Value: id}, "Range": &dtypes.AttributeValueMemberS{Value: "app"},
			},
			UpdateExpression:          aws.String("ADD n :one"),
			ExpressionAttributeValues: map[string]dtypes.AttributeValue{":one": &dtypes.AttributeValueMemberN{Value: "1"}},
		}}
	}
	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	l, err := c.Lock("a", "b").Acquire(ctx)
	step("acquire", err)
	step("extend", l.Extend(ctx, time.Minute))
	step("write", l.Write(ctx, app("a")))
	step("complete", l.Complete(ctx, nil, app("b")))
	l, err = c.Lock("a").Acquire(ctx)
	step("acquire again", err)
	step("release", l.Release(ctx))
	cl, err := c.Claim(ctx, "event/1", []byte("body"))
	step("claim", err)
	step("complete a claim", cl.Lease.Complete(ctx, []byte("r1")))
	step("amend its result", cl.Lease.Complete(ctx, []byte("r2")))
	dup, err := c.Claim(ctx, "event/1", []byte("body"))
	if err != nil || !dup.Done || string(dup.Result) != "r2" {
		t.Fatalf("duplicate claim: %+v, %v; want done with r2", dup, err)
	}
	_, err = c.Lock("a").Acquire(ctx)
	step("acquire after release", err)
	if _, err := c.Lock("a").Acquire(ctx); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
		t.Fatalf("acquire of a held lock: %v, want ErrLockAlreadyAcquired", err)
	}

	for _, e := range rec.exprs {
		for _, name := range []string{"Key", "Range", "Data"} {
			if strings.Contains(e, name) {
				t.Errorf("expression %q names %s directly", e, name)
			}
		}
	}
	if r, found, err := def.Read(ctx, srv.Client(), table, "event/1"); err != nil || !found || string(r.Result) != "r2" || r.CleanupAt.IsZero() {
		t.Errorf("admin read of the claim: %+v, %v, %v", r, found, err)
	}
}

// TestAcquireOnTableOfAnotherShape: a client whose shape does not fit the
// table's key fails its first acquire with ErrNotLockTable, naming the key
// its Config asks for; NewClient sends nothing to find out.
func TestAcquireOnTableOfAnotherShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	shared := lock.Config{PartitionKey: "PK", SortKey: "SK", SortKeyValue: "LOCK"}
	sharedDef, err := admin.TableFor(shared)
	if err != nil {
		t.Fatal(err)
	}
	seedTable, sharedTable := dynamotest.TableName(t)+"-seed", dynamotest.TableName(t)+"-shared"
	if err := admin.CreateTable(ctx, srv.Client(), seedTable); err != nil {
		t.Fatal(err)
	}
	if err := sharedDef.CreateTable(ctx, srv.Client(), sharedTable); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, table string
		cfg         lock.Config
		want        string
	}{
		{"shared shape on the seed's table", seedTable, shared, "partition key PK (S) and sort key SK (S)"},
		{"seed's shape on a shared table", sharedTable, lock.Config{}, "partition key LockId (S) and no sort key"},
		{"another partition key name", sharedTable, lock.Config{PartitionKey: "pk", SortKey: "SK", SortKeyValue: "LOCK"}, "partition key pk (S)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.TableName, cfg.DynamoDB = tt.table, srv.Client()
			c, err := lock.NewClient(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Lock("x").Acquire(ctx)
			if !errors.Is(err, lock.ErrLockAcquisition) || !errors.Is(err, admin.ErrNotLockTable) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("acquire: %v, want ErrLockAcquisition and ErrNotLockTable naming %q", err, tt.want)
			}
		})
	}
}
