package bench_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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
	c, err := lock.NewClient(db, table)
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.TryAcquire(ctx, "floor")
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
	rec, err := lock.ParseRecord(out.Item)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Token
}
