package bench_test

import (
	"context"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/bench/internal/capacity"
	"github.com/dynalock/dynalock/bench/internal/rawreq"
	"github.com/dynalock/dynalock/lock"
)

// TestFloorReplaysLock checks that the floor sends DynaLock's own
// requests and that a replayed cycle leaves the lock free and counting, as
// a DynaLock cycle does.
func TestFloorReplaysLock(t *testing.T) {
	ctx := context.Background()
	db, counter := newDB(srv)
	table := lockTable(t, db)
	f, err := captureFloor(ctx, db, table, "floor")
	if err != nil {
		t.Fatal(err)
	}
	if *f.acquire.ConditionExpression == *f.release.ConditionExpression {
		t.Fatalf("captured the same request twice: %s", *f.acquire.ConditionExpression)
	}
	before := token(ctx, t, db, table, f)
	counter.Reset()
	for range 3 {
		if err := f.cycle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := counter.Count("UpdateItem"); got != 6 {
		t.Errorf("3 floor cycles sent %d UpdateItem requests, want 6", got)
	}
	c, err := newClient(db, table, lock.Config{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Lock("floor").Acquire(ctx)
	if err != nil {
		t.Fatalf("lock not free after floor cycles: %v", err)
	}
	defer l.Release(ctx)
	if want := before + 4; l.FencingToken() != want {
		t.Errorf("fencing token after 3 floor cycles and an acquire: %d, want %d", l.FencingToken(), want)
	}
}

// token reads the fencing token in the item of f's lock.
func token(ctx context.Context, t *testing.T, db *dynamodb.Client, table string, f floor) int64 {
	t.Helper()
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: f.acquire.Key, ConsistentRead: new(true)})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := admin.Parse(out.Item)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Token
}

// TestRawRequestsMatchLock checks that the requests the cold-start
// function sdkwrites writes out by hand (rawreq.Acquire and Release) are
// the ones DynaLock sends: the same expressions, attribute names and
// value placeholders. If the lock's requests change, change rawreq too,
// or the cold start's baseline no longer sends what the lock does.
func TestRawRequestsMatchLock(t *testing.T) {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	db, _ := newDB(srv)
	table := lockTable(t, db)
	rec := &recorder{db: db}
	c, err := newClient(rec, table, lock.Config{Owner: "owner"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Lock("raw").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	now := time.Now()
	raw := []*dynamodb.UpdateItemInput{
		rawreq.Acquire{Table: table, ID: "raw", LeaseID: l.LeaseID(), Owner: "owner", Host: host, RequestID: "req-1",
			Now: now, TTL: defaults.TTL, Skew: defaults.Skew, Retention: defaults.Retention}.Input(),
		rawreq.Release(table, "raw", l.LeaseID(), l.FencingToken(), now, defaults.Retention),
	}
	if len(rec.ins) != 2 {
		t.Fatalf("a cycle sent %d requests", len(rec.ins))
	}
	for i, what := range []string{"acquire", "release"} {
		got, want := raw[i], rec.ins[i]
		same := aws.ToString(got.UpdateExpression) == aws.ToString(want.UpdateExpression) &&
			aws.ToString(got.ConditionExpression) == aws.ToString(want.ConditionExpression) &&
			maps.Equal(got.ExpressionAttributeNames, want.ExpressionAttributeNames) &&
			slices.Equal(slices.Sorted(maps.Keys(got.ExpressionAttributeValues)), slices.Sorted(maps.Keys(want.ExpressionAttributeValues))) &&
			got.ReturnValues == want.ReturnValues && got.ReturnValuesOnConditionCheckFailure == want.ReturnValuesOnConditionCheckFailure
		if !same {
			t.Errorf("rawreq's %s differs from the lock's: update bench/internal/rawreq to match\n got: %s | %s | %v\nwant: %s | %s | %v",
				what, aws.ToString(got.UpdateExpression), aws.ToString(got.ConditionExpression), got.ExpressionAttributeNames,
				aws.ToString(want.UpdateExpression), aws.ToString(want.ConditionExpression), want.ExpressionAttributeNames)
		}
	}
	// The hand-written acquire goes through on the lock's item too.
	lease := rawreq.NewID()
	a := rawreq.Acquire{Table: table, ID: "raw", LeaseID: lease, Owner: "owner", Host: host, RequestID: "req-2",
		Now: time.Now(), TTL: defaults.TTL, Skew: defaults.Skew, Retention: defaults.Retention}
	out, err := db.UpdateItem(ctx, a.Input())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := rawreq.TokenOf(out.Attributes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateItem(ctx, rawreq.Release(table, "raw", lease, tok, time.Now(), defaults.Retention)); err != nil {
		t.Fatal(err)
	}
}

// TestMinimalCycle checks that the minimal design's cycle excludes a
// second holder and counts its fencing tokens up.
func TestMinimalCycle(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(srv)
	table := lockTable(t, db)
	now := time.Now()
	out, err := db.UpdateItem(ctx, rawreq.MinimalAcquire(table, "m", "a", now, defaults.TTL, defaults.Skew))
	if err != nil {
		t.Fatal(err)
	}
	first, err := rawreq.TokenOf(out.Attributes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateItem(ctx, rawreq.MinimalAcquire(table, "m", "b", now, defaults.TTL, defaults.Skew)); err == nil {
		t.Fatal("a second holder acquired a held lock")
	}
	if _, err := db.UpdateItem(ctx, rawreq.MinimalRelease(table, "m", "b")); err == nil {
		t.Fatal("a non-holder released the lock")
	}
	if _, err := db.UpdateItem(ctx, rawreq.MinimalRelease(table, "m", "a")); err != nil {
		t.Fatal(err)
	}
	if err := minimalCycle(db, table, "m")(ctx); err != nil {
		t.Fatal(err)
	}
	out, err = db.UpdateItem(ctx, rawreq.MinimalAcquire(table, "m", "c", time.Now(), defaults.TTL, defaults.Skew))
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := rawreq.TokenOf(out.Attributes); tok != first+2 {
		t.Errorf("token %d after two more acquires of token %d", tok, first)
	}
}

// TestCapacityRules checks the bench's capacity rules against DynamoDB
// Local's reports: an acquire of an item over 1 KB (big metadata) costs
// the write units of the larger of the item before and after.
func TestCapacityRules(t *testing.T) {
	ctx := context.Background()
	m := &meter{}
	db := newMeteredDB(m)
	table := lockTable(t, db)
	c, err := newClient(db, table, lock.Config{Metadata: map[string]string{"big": strings.Repeat("x", 1500)}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		l, err := c.Lock("big").Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, ConsistentRead: new(true),
			Key: map[string]types.AttributeValue{admin.Table.PartitionKey: &types.AttributeValueMemberS{Value: "big"}}})
		if err != nil {
			t.Fatal(err)
		}
		m.take()
		if err := l.Extend(ctx, 0); err != nil {
			t.Fatal(err)
		}
		want := capacity.WriteUnits(capacity.ItemSize(out.Item))
		if got := m.take(); got.wcu != want || want != 2 {
			t.Errorf("extend of a %d-byte item: DynamoDB Local reported %v WCU, the rules say %v (want 2)", capacity.ItemSize(out.Item), got.wcu, want)
		}
		if got := m.take(); got.rcu != 0 {
			t.Errorf("%v RCU", got.rcu)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
