package e2e_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/examples/shop/stock"
	"github.com/dynalock/dynalock/internal/demo"
	"github.com/dynalock/dynalock/internal/dynamotest"
)

// low-stock-alerts under the emulator, given stream-shaped batches: while
// reserve-stock holds a SKU's lock, the SKU's record is reported as the
// batch's failure (its own sequence number) and the records after it are
// not run; redelivered from there once the lock is free, the alert is
// raised, once, however often the batch comes again.
// heldFor is the lease of the tests' stand-in for reserve-stock: long
// enough that the answer to its acquire comes within it on a machine at a
// load average of 30 (a 2 s lease did not), short enough that the tests
// wait it out quickly.
const heldFor = 8 * time.Second

func TestLowStockAlertsWhileSKUHeld(t *testing.T) {
	ctx := context.Background()
	table := dynamotest.TableName(t)
	if err := stack.CreateAppTable(ctx, table); err != nil {
		t.Fatal(err)
	}
	store := stack.AppsOf(table).Stock
	f, err := stack.Start(ctx, demo.LowStockAlerts, table, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	invoke := func(recs []events.DynamoDBEventRecord) []string {
		t.Helper()
		payload, err := json.Marshal(events.DynamoDBEvent{Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := f.Invoke(ctx, payload)
		if err != nil || resp.Err != nil {
			t.Fatalf("invoke: %v, %v", err, resp.Err)
		}
		var out events.DynamoDBEventResponse
		if err := json.Unmarshal(resp.Payload, &out); err != nil {
			t.Fatalf("response %s: %v", resp.Payload, err)
		}
		var ids []string
		for _, b := range out.BatchItemFailures {
			ids = append(ids, b.ItemIdentifier)
		}
		return ids
	}

	// GIVEN reserve-stock holding MUG's lock for a few seconds
	if _, err := holder(t, "reserve-stock", heldFor).Lock(stock.LockNamespace + "/MUG").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	batch := []events.DynamoDBEventRecord{
		demo.StockChange(1, "CUP", 10, 3),
		demo.StockChange(2, "MUG", 6, 4),
		demo.StockChange(3, "MUG", 4, 2),
		demo.StockChange(4, "CUP", 3, 40),
	}
	// WHEN the batch is delivered
	failed := invoke(batch)
	// THEN MUG's first record is the failure, CUP's alert is raised and
	// nothing after MUG's record ran (CUP's restock did not clear it)
	if want := []string{batch[1].Change.SequenceNumber}; !slices.Equal(failed, want) {
		t.Fatalf("failures %v, want %v", failed, want)
	}
	if al, err := store.Alert(ctx, "CUP"); err != nil || al.Status != stock.AlertOpen || al.Raised != 1 {
		t.Errorf("CUP alert %+v, %v; want open, raised once", al, err)
	}
	if al, err := store.Alert(ctx, "MUG"); err == nil {
		t.Errorf("MUG alert %+v while its lock was held", al)
	}
	// WHEN Lambda redelivers from the failed record until it succeeds
	rest := batch[1:]
	deadline := time.Now().Add(20 * time.Second)
	for len(failed) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still failing %v after 20 s", failed)
		}
		time.Sleep(500 * time.Millisecond)
		failed = invoke(rest)
	}
	// AND the whole batch comes once more (a retry after a lost response)
	if failed := invoke(batch); len(failed) != 0 {
		t.Fatalf("redelivered batch failures %v", failed)
	}
	// THEN MUG has one open alert, and CUP's was cleared by its restock
	if al, err := store.Alert(ctx, "MUG"); err != nil || al.Status != stock.AlertOpen || al.Raised != 1 || al.Available != 4 {
		t.Errorf("MUG alert %+v, %v; want open at 4, raised once", al, err)
	}
	if al, err := store.Alert(ctx, "CUP"); err != nil || al.Raised != 2 {
		// The redelivered batch raised CUP again (3 after 40): stream
		// order, not a duplicate.
		t.Errorf("CUP alert %+v, %v; want raised twice (low, restocked, low again, restocked)", al, err)
	} else if al.Status != stock.AlertCleared {
		t.Errorf("CUP alert %+v, want cleared by the last restock", al)
	}
	nothingLocked(t)
}

// low-stock-alerts fed the application table's real DynamoDB stream
// (DynamoDB Local's), as the demo feeds it: a SKU written below the
// threshold while its lock is held is retried from its sequence number
// until the lock is free, then alerted once; a SKU above the threshold
// gets no alert, and records of other items are filtered out.
func TestLowStockAlertsFromTheStream(t *testing.T) {
	ctx := context.Background()
	table := dynamotest.TableName(t)
	if err := stack.CreateAppTable(ctx, table); err != nil {
		t.Fatal(err)
	}
	apps := stack.AppsOf(table)
	// GIVEN two SKUs and an account, and low-stock-alerts reading the stream
	for _, sku := range []string{"MUG", "CUP"} {
		if err := apps.Stock.Put(ctx, sku, demo.InitialStock); err != nil {
			t.Fatal(err)
		}
	}
	if err := apps.Accounts.Open(ctx, "42", demo.OpeningBalance); err != nil {
		t.Fatal(err)
	}
	run, err := stack.StartAlerts(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	// AND reserve-stock holding MUG's lock for a few seconds
	if _, err := holder(t, "reserve-stock", heldFor).Lock(stock.LockNamespace + "/MUG").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	// WHEN MUG falls below the threshold and CUP stays above it
	for _, o := range []stock.Order{
		{OrderID: "o-1", SKU: "MUG", Quantity: demo.InitialStock - demo.AlertThreshold + 1},
		{OrderID: "o-2", SKU: "CUP", Quantity: 1},
	} {
		if _, err := apps.Stock.Reserve(ctx, o, 0); err != nil {
			t.Fatal(err)
		}
	}
	// (Finish waits until every record written so far was processed.)
	res, err := run.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// THEN MUG's record was retried and MUG alone has an alert, raised once
	s := res.Stream
	t.Logf("stream %+v; %d SKU locks found held", s, res.Metrics.Contended)
	if s.Records != 4 || s.Filtered < 1 || s.Retried < 1 || res.Metrics.Contended < 1 {
		t.Errorf("stream %+v, %d SKU locks found held; want 4 SKU records, the account's filtered out, MUG's retried", s, res.Metrics.Contended)
	}
	if len(res.Alerts) != 1 || res.Alerts[0].SKU != "MUG" || res.Alerts[0].Status != stock.AlertOpen || res.Alerts[0].Raised != 1 {
		t.Errorf("alerts %+v, want MUG's alone, open, raised once", res.Alerts)
	}
	nothingLocked(t)
}
