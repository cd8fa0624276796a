package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// TestIdempotentKinesisRedelivery: a record that failed is redelivered
// from the checkpoint with the records after it, and the whole batch is
// delivered again as Lambda does when an invocation's answer is lost:
// each record's handler succeeds once, and a record whose effect completed
// is answered from the store, not run again.
func TestIdempotentKinesisRedelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var (
		mu   sync.Mutex
		ran  []string
		runs = map[string]int{}
	)
	h := must(middleware.WrapKinesis(e.c, middleware.KinesisPartitionKey(),
		func(ctx context.Context, r events.KinesisEventRecord) error {
			mu.Lock()
			defer mu.Unlock()
			seq := r.Kinesis.SequenceNumber
			ran = append(ran, seq)
			runs[seq]++
			if seq == "103" && runs[seq] == 1 {
				return errors.New("flaky")
			}
			return nil
		}, e.opts(middleware.WithIdempotency(middleware.KinesisEventID()))...))(t)
	batch := kinesisBatch("a", "b", "c", "d")
	for _, d := range []struct {
		name    string
		records []events.KinesisEventRecord
		ran     []string
		failed  []string
	}{
		{"first delivery: 103 fails, 104 not run", batch.Records, []string{"101", "102", "103"}, []string{"103"}},
		{"from the checkpoint", batch.Records[2:], []string{"103", "104"}, nil},
		{"the whole batch again", batch.Records, nil, nil},
	} {
		mu.Lock()
		ran = nil
		mu.Unlock()
		ctx, _ := lambdaCtx(t, "req-"+d.name, 10*time.Second)
		resp, err := h(ctx, events.KinesisEvent{Records: d.records})
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		var failed []string
		for _, f := range resp.BatchItemFailures {
			failed = append(failed, f.ItemIdentifier)
		}
		mu.Lock()
		if !slices.Equal(ran, d.ran) || !slices.Equal(failed, d.failed) {
			t.Errorf("%s: ran %q, failures %q; want %q, %q", d.name, ran, failed, d.ran, d.failed)
		}
		mu.Unlock()
	}
	if fmt.Sprint(runs) != "map[101:1 102:1 103:2 104:1]" {
		t.Errorf("runs %v, want each record once, 103 twice", runs)
	}
	e.requireFree("a", "b", "c", "d")
}

// TestIdempotentDynamoDBStreamRedelivery: a DynamoDB Streams batch
// delivered twice runs each record's handler once.
func TestIdempotentDynamoDBStreamRedelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var batch events.DynamoDBEvent
	loadEvent(t, "dynamodb-stream.json", &batch)
	runs := map[string]int{}
	h := must(middleware.WrapDynamoDBStream(e.c, middleware.DynamoDBKeys(), func(ctx context.Context, r events.DynamoDBEventRecord) error {
		runs[r.EventID]++
		return nil
	}, e.opts(middleware.WithIdempotency(middleware.DynamoDBEventID()))...))(t)
	for i := range 2 {
		ctx, _ := lambdaCtx(t, fmt.Sprint("req-", i), 10*time.Second)
		if resp, err := h(ctx, batch); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("delivery %d: %+v, %v", i+1, resp.BatchItemFailures, err)
		}
	}
	for _, r := range batch.Records {
		if runs[r.EventID] != 1 {
			t.Errorf("record %s ran %d times, want 1", r.EventID, runs[r.EventID])
		}
	}
}

// TestIdempotentKinesisInvocationFailed: a handler that panics fails the
// invocation, and Lambda delivers the whole batch again: the records
// before it, which completed, are answered from the store; the rest run.
func TestIdempotentKinesisInvocationFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runs := map[string]int{}
	h := must(middleware.WrapKinesis(e.c, middleware.KinesisPartitionKey(),
		func(ctx context.Context, r events.KinesisEventRecord) error {
			seq := r.Kinesis.SequenceNumber
			runs[seq]++
			if seq == "103" && runs[seq] == 1 {
				panic("the invocation dies")
			}
			return nil
		}, e.opts(middleware.WithIdempotency(middleware.KinesisEventID()))...))(t)
	batch := kinesisBatch("a", "b", "c", "d")
	func() {
		defer func() {
			if p := recover(); p == nil {
				t.Error("the panic did not go on")
			}
		}()
		ctx, _ := lambdaCtx(t, "req-1", 10*time.Second)
		_, _ = h(ctx, batch)
	}()
	ctx, _ := lambdaCtx(t, "req-2", 10*time.Second)
	if resp, err := h(ctx, batch); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("the batch again: %+v, %v", resp.BatchItemFailures, err)
	}
	if fmt.Sprint(runs) != "map[101:1 102:1 103:2 104:1]" {
		t.Errorf("runs %v, want 101 and 102 answered the second time", runs)
	}
	e.requireFree("a", "b", "c", "d")
}

// TestIdempotentKinesisRecord: the record in the middle of a batch has
// its claim held, completed or missing; the checkpoint rules apply as to
// a held lock.
func TestIdempotentKinesisRecord(t *testing.T) {
	t.Parallel()
	type claim int
	const (
		none           claim = iota
		inFlight             // another delivery holds record 102's claim, for 5 s
		shortLive            // likewise for 500 ms
		completed            // another delivery completed record 102
		completedOther       // likewise, with another payload
	)
	// The payload a claim checks: the record's data.
	payload := func(r events.KinesisEventRecord) []byte { return r.Kinesis.Data }
	for _, tc := range []struct {
		name   string
		claim  claim
		noID   bool // record 102 has no event ID
		policy middleware.HeldPolicy
		// want
		ran    []string
		failed []string
	}{
		{name: "in progress elsewhere, Fail: fails there", claim: inFlight, ran: []string{"101"}, failed: []string{"102"}},
		{name: "in progress elsewhere, Skip: acknowledged", claim: inFlight, policy: middleware.Skip, ran: []string{"101", "103"}, failed: []string{}},
		{name: "in progress elsewhere, Wait: runs once it is free", claim: shortLive, policy: middleware.Wait, ran: []string{"101", "102", "103"}, failed: []string{}},
		{name: "completed elsewhere: answered, the batch goes on", claim: completed, ran: []string{"101", "103"}, failed: []string{}},
		{name: "completed with another payload: fails there", claim: completedOther, ran: []string{"101"}, failed: []string{"102"}},
		{name: "no idempotency key: fails there", noID: true, ran: []string{"101"}, failed: []string{"102"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			batch := kinesisBatch("a", "b", "c")
			if tc.noID {
				batch.Records[1].EventID = ""
			}
			other := e.otherClient(lock.Config{})
			id := admin.ClaimID("test", "", batch.Records[1].EventID)
			switch tc.claim {
			case inFlight, shortLive:
				ttl := map[claim]time.Duration{inFlight: 5 * time.Second, shortLive: 500 * time.Millisecond}[tc.claim]
				if _, err := other.Claim(ctx0, id, payload(batch.Records[1]), lockopt.TTL(ttl)); err != nil {
					t.Fatal(err)
				}
			case completed, completedOther:
				p := payload(batch.Records[1])
				if tc.claim == completedOther {
					other := batch.Records[1]
					other.Kinesis.Data = []byte(`"other"`)
					p = payload(other)
				}
				cl, err := other.Claim(ctx0, id, p)
				if err == nil {
					err = cl.Lease.Complete(ctx0, nil)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			var ran []string
			h := must(middleware.WrapKinesis(e.c, middleware.KinesisPartitionKey(),
				func(ctx context.Context, r events.KinesisEventRecord) error {
					ran = append(ran, r.Kinesis.SequenceNumber)
					return nil
				}, e.opts(middleware.WithIdempotency(middleware.KinesisEventID()), middleware.WithOnHeld(tc.policy))...))(t)
			ctx, _ := lambdaCtx(t, "req", 10*time.Second)
			resp, err := h(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			failed := []string{}
			for _, f := range resp.BatchItemFailures {
				failed = append(failed, f.ItemIdentifier)
			}
			if ran == nil {
				ran = []string{}
			}
			if !slices.Equal(ran, tc.ran) || !slices.Equal(failed, tc.failed) {
				t.Errorf("ran %q, failures %q; want %q, %q", ran, failed, tc.ran, tc.failed)
			}
			e.requireFree("a", "b", "c")
		})
	}
}

// TestIdempotentKinesisProducerRetry: a producer that puts one message
// twice makes two records (two sequence numbers, two event IDs) of the same
// data; keyed on an ID in the data, the second is a duplicate, acknowledged
// without running, not a reused key that would block the shard.
func TestIdempotentKinesisProducerRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var runs atomic.Int32
	h := must(middleware.WrapKinesis(e.c, middleware.KinesisPartitionKey(),
		func(context.Context, events.KinesisEventRecord) error { runs.Add(1); return nil },
		e.opts(middleware.WithIdempotency(middleware.KinesisData("msgId")))...))(t)
	batch := kinesisBatch("a", "a")
	for i := range batch.Records {
		batch.Records[i].Kinesis.Data = []byte(`{"msgId":"m-1","amount":5}`)
	}
	ctx, _ := lambdaCtx(t, "req-producer-retry", 10*time.Second)
	resp, err := h(ctx, batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("the same data twice: %+v, %v; want both acknowledged", resp, err)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("the handler ran %d times, want once", n)
	}
}

// TestIdempotentSQSKeepsTheHandlersResult: a WrapSQS handler (which has no
// output of its own) that completes its claim with a result keeps it: the
// middleware's completion after it stores nothing over it.
func TestIdempotentSQSKeepsTheHandlersResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"),
		func(ctx context.Context, m events.SQSMessage) error {
			lease, _ := lock.FromContext(ctx)
			return lease.Complete(ctx, []byte(`"receipt-7"`))
		}, e.opts(middleware.WithIdempotency(middleware.SQSMessageID()))...))(t)
	ctx, _ := lambdaCtx(t, "req-keep-result", 10*time.Second)
	msg := events.SQSMessage{MessageId: "m-keep", Body: `{"sku":"KEEP"}`}
	if resp, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{msg}}); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("%+v, %v", resp, err)
	}
	dup, err := e.c.Claim(context.Background(), admin.ClaimID("test", os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), "m-keep"), []byte(msg.Body))
	if err != nil || !dup.Done || string(dup.Result) != `"receipt-7"` {
		t.Errorf("the claim after the batch: done %v, result %q, %v; want the handler's \"receipt-7\"", dup.Done, dup.Result, err)
	}
}
