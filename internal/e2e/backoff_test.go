package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/internal/demo"
)

// A record whose SKU another holder has comes back soon after the holder
// releases, not after the queue's visibility timeout: reserve-stock sets
// its visibility through the SDK (WithVisibilityBackoff), and the SQS
// stand-in honours it.
func TestHeldRecordReappearsBeforeTheVisibilityTimeout(t *testing.T) {
	ctx := context.Background()
	msg := events.SQSMessage{
		MessageId:      "backoff-msg-1",
		Body:           `{"orderId":"backoff-1","sku":"BLUE-MUG","quantity":1}`,
		EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:reserve-stock",
	}
	batch := events.SQSEvent{Records: []events.SQSMessage{msg}}
	ledger := demo.NewLedger()
	if err := ledger.AddSQS(batch); err != nil {
		t.Fatal(err)
	}
	table, apps := appTable(t, ledger)
	f, err := stack.Start(ctx, demo.ReserveStock, table, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()

	// GIVEN another holder of BLUE-MUG's lock, released once the first
	// delivery has found it held (its metrics, written as the invocation
	// ends, count it: a fixed pause after the invocation began raced with
	// a slow invocation on a loaded machine)
	held, err := holder(t, "e2e test", time.Minute).Lock("sku/BLUE-MUG").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for f.Metrics().Contended.Load() < 1 {
			time.Sleep(5 * time.Millisecond)
		}
		if err := held.Release(ctx); err != nil {
			t.Error(err)
		}
	}()
	// WHEN the record is delivered from a queue with the stack's settings
	q := demo.StackQueue()
	res, err := demo.DeliverSQS(ctx, f, []events.SQSEvent{batch}, q)
	if err != nil {
		t.Fatal(err)
	}
	// THEN it came back once, after the visibility the function set, well
	// before the queue's visibility timeout
	t.Logf("reserved %s after it was sent; %d redeliveries, %d visibility changes", res.Latencies, res.Redelivered, res.VisibilityChanges)
	if res.Redelivered != 1 || res.VisibilityChanges != 1 || len(res.Latencies) != 1 {
		t.Fatalf("%+v: want one redelivery after one visibility change", res)
	}
	if res.Latencies[0] >= q.Visibility/2 {
		t.Errorf("reserved %s after it was sent, not well before the visibility timeout %s", res.Latencies[0], q.Visibility)
	}
	for _, s := range mustCompare(t, ledger, apps).SKUs {
		if !s.OK() {
			t.Errorf("SKU %s: %+v: want the order reserved once", s.SKU, s)
		}
	}
	nothingLocked(t)
}
