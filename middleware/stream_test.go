package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// kinesisBatch returns a batch of one record per key, in order, with
// sequence numbers 101, 102, …
func kinesisBatch(keys ...string) events.KinesisEvent {
	var ev events.KinesisEvent
	for i, k := range keys {
		ev.Records = append(ev.Records, events.KinesisEventRecord{
			EventID: fmt.Sprintf("shardId-000000000000:%d", 101+i),
			Kinesis: events.KinesisRecord{PartitionKey: k, SequenceNumber: fmt.Sprint(101 + i), Data: []byte(`{"n":` + fmt.Sprint(i) + `}`)},
		})
	}
	return ev
}

// The checkpoint rules: records run in order, the first failure is
// reported by its sequence number, and the records after it do not run.
func TestKinesisCheckpoint(t *testing.T) {
	tests := []struct {
		name    string
		keys    []string
		held    string // key another process holds
		fail    string // sequence number whose handler fails
		noSeq   bool   // the failing record has no sequence number
		opts    []middleware.Option
		timeout time.Duration
		// want
		ran     []string // sequence numbers run, in order
		failed  []string // batchItemFailures
		wantErr error
	}{
		{name: "all processed", keys: []string{"a", "b", "a", "c"}, ran: []string{"101", "102", "103", "104"}, failed: []string{}},
		{name: "handler error: later records not run", keys: []string{"a", "b", "c", "a"}, fail: "102",
			ran: []string{"101", "102"}, failed: []string{"102"}},
		{name: "held: the record and those after it", keys: []string{"a", "b", "c"}, held: "b",
			ran: []string{"101"}, failed: []string{"102"}},
		{name: "held with Skip: acknowledged, the batch goes on", keys: []string{"a", "b", "c"}, held: "b", opts: []middleware.Option{middleware.WithOnHeld(middleware.Skip)},
			ran: []string{"101", "103"}, failed: []string{}},
		{name: "held on the first record: reports it", keys: []string{"b", "a"}, held: "b", ran: []string{}, failed: []string{"101"}},
		{name: "no key: fails there", keys: []string{"a", "", "c"}, ran: []string{"101"}, failed: []string{"102"}},
		{name: "no key with RunUnkeyed: runs", keys: []string{"a", "", "c"}, opts: []middleware.Option{middleware.WithRunUnkeyed()},
			ran: []string{"101", "102", "103"}, failed: []string{}},
		{name: "no time: the first record", keys: []string{"a", "b"}, timeout: 400 * time.Millisecond, ran: []string{}, failed: []string{"101"}},
		{name: "a failure without a sequence number fails the invocation", keys: []string{"a", "b"}, fail: "", noSeq: true,
			ran: []string{"101", ""}, failed: []string{}, wantErr: middleware.ErrNoSequenceNumber},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.held != "" {
				e.hold(tc.held, 5*time.Second)
			}
			batch := kinesisBatch(tc.keys...)
			if tc.noSeq {
				batch.Records[1].Kinesis.SequenceNumber = ""
			}
			var (
				mu  sync.Mutex
				ran = []string{}
			)
			h := must(middleware.WrapKinesis(e.c, middleware.KinesisPartitionKey(),
				func(ctx context.Context, r events.KinesisEventRecord) error {
					mu.Lock()
					ran = append(ran, r.Kinesis.SequenceNumber)
					mu.Unlock()
					if l, ok := lock.FromContext(ctx); ok && l.LockID() != "test/"+r.Kinesis.PartitionKey {
						t.Errorf("record %s runs under %s", r.Kinesis.SequenceNumber, l.LockID())
					}
					if r.Kinesis.SequenceNumber == tc.fail {
						return errors.New("handler failed")
					}
					return nil
				}, e.opts(tc.opts...)...))(t)
			ctx, _ := lambdaCtx(t, "req-kinesis", tc.timeout)
			resp, err := h(ctx, batch)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			got := []string{}
			for _, f := range resp.BatchItemFailures {
				if f.ItemIdentifier == "" {
					t.Error("an empty item identifier: Lambda would fail the whole batch")
				}
				got = append(got, f.ItemIdentifier)
			}
			if !slices.Equal(got, tc.failed) || !slices.Equal(ran, tc.ran) {
				t.Errorf("failures %q, ran %q; want %q, %q", got, ran, tc.failed, tc.ran)
			}
			for _, k := range tc.keys {
				if k != "" && k != tc.held {
					e.requireFree(k)
				}
			}
		})
	}
}

// A panicking handler releases its lock, then the panic goes on; nothing
// after it runs.
func TestKinesisPanic(t *testing.T) {
	e := newEnv(t)
	var ran []string
	h := must(middleware.WrapKinesis(e.c, middleware.KinesisPartitionKey(),
		func(ctx context.Context, r events.KinesisEventRecord) error {
			ran = append(ran, r.Kinesis.SequenceNumber)
			if r.Kinesis.SequenceNumber == "102" {
				panic("bug")
			}
			return nil
		}, e.opts()...))(t)
	func() {
		defer func() {
			if p := recover(); p != "bug" {
				t.Errorf("recovered %v, want the handler's panic", p)
			}
		}()
		_, _ = h(context.Background(), kinesisBatch("a", "b", "c"))
		t.Error("no panic")
	}()
	if !slices.Equal(ran, []string{"101", "102"}) {
		t.Errorf("ran %q, want 101 and 102 only", ran)
	}
	e.requireFree("a", "b")
	if len(e.logLines("handler panicked")) != 1 {
		t.Errorf("log: %s", e.logs.String())
	}
}

// The DynamoDB Streams wrapper reports the record's own sequence number,
// with keys from the item's keys or its image.
func TestDynamoDBStream(t *testing.T) {
	var batch events.DynamoDBEvent
	loadEvent(t, "dynamodb-stream.json", &batch)
	// What DynamoDBImagePath did, a KeyFunc does: the changed item's Id,
	// from its new image or, for a deletion, its old one.
	byImage := middleware.KeyFunc("image Id", func(_ context.Context, r events.DynamoDBEventRecord) ([]string, error) {
		img := r.Change.NewImage
		if img == nil {
			img = r.Change.OldImage
		}
		if v, ok := img["Id"]; ok && v.DataType() == events.DataTypeString {
			return []string{v.String()}, nil
		}
		return nil, fmt.Errorf("%w: no Id in the record's images", middleware.ErrNoKey)
	})
	for _, tc := range []struct {
		name string
		key  middleware.Key[events.DynamoDBEventRecord]
	}{
		{"keys", middleware.DynamoDBKeys()},
		{"named keys", middleware.DynamoDBKeys("Id")},
		{"image path", byImage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.hold("account#7", 5*time.Second)
			var ran []string
			h := must(middleware.WrapDynamoDBStream(e.c, tc.key, func(ctx context.Context, r events.DynamoDBEventRecord) error {
				ran = append(ran, r.Change.SequenceNumber)
				return nil
			}, e.opts()...))(t)
			resp, err := h(context.Background(), batch)
			if err != nil {
				t.Fatal(err)
			}
			second := batch.Records[1].Change.SequenceNumber
			if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != second {
				t.Errorf("failures %+v, want the second record's %s (account 7 is held)", resp.BatchItemFailures, second)
			}
			if !slices.Equal(ran, []string{batch.Records[0].Change.SequenceNumber}) {
				t.Errorf("ran %q, want only the first record", ran)
			}
		})
	}
}

// The stream key functions.
func TestStreamKeys(t *testing.T) {
	var kin events.KinesisEvent
	loadEvent(t, "kinesis-account.json", &kin)
	var ddb events.DynamoDBEvent
	loadEvent(t, "dynamodb-stream.json", &ddb)
	composite := ddb.Records[0]
	composite.Change.Keys = map[string]events.DynamoDBAttributeValue{
		"Pk": events.NewStringAttribute("ORDER#7"), "Sk": events.NewNumberAttribute("2"),
	}
	tests := []struct {
		name    string
		keys    func() ([]string, error)
		want    string
		wantErr string
	}{
		{"partition key", func() ([]string, error) {
			return middleware.EvalKey(ctx0, middleware.KinesisPartitionKey(), kin.Records[0])
		}, "42", ""},
		{"data path", func() ([]string, error) {
			return middleware.EvalKey(ctx0, middleware.KinesisData("transactionId"), kin.Records[1])
		}, "k-2", ""},
		{"data not JSON", func() ([]string, error) {
			r := kin.Records[0]
			r.Kinesis.Data = []byte("plain text")
			return middleware.EvalKey(ctx0, middleware.KinesisData("accountId"), r)
		}, "", "data is not JSON"},
		{"item keys", func() ([]string, error) { return middleware.EvalKey(ctx0, middleware.DynamoDBKeys(), ddb.Records[0]) }, "account#42", ""},
		{"composite keys by name", func() ([]string, error) { return middleware.EvalKey(ctx0, middleware.DynamoDBKeys(), composite) }, "ORDER#7/2", ""},
		{"composite keys in the order named", func() ([]string, error) {
			return middleware.EvalKey(ctx0, middleware.DynamoDBKeys("Sk", "Pk"), composite)
		}, "2/ORDER#7", ""},
		{"missing key attribute", func() ([]string, error) { return middleware.EvalKey(ctx0, middleware.DynamoDBKeys("Nope"), composite) }, "", `no key attribute "Nope"`},
		{"DynamoDB event ID", func() ([]string, error) {
			return middleware.EvalKey(ctx0, middleware.DynamoDBEventID(), ddb.Records[0])
		}, "c81e728d9d4c2f636f067f89cc148620", ""},
		{"Kinesis event ID without a stream ARN", func() ([]string, error) {
			r := kin.Records[0]
			r.EventSourceArn = ""
			return middleware.EvalKey(ctx0, middleware.KinesisEventID(), r)
		}, "shardId-000000000000:495903384752106658230984378209856739103848752387901", ""},
		{"no Kinesis event ID", func() ([]string, error) {
			r := kin.Records[0]
			r.EventID = ""
			return middleware.EvalKey(ctx0, middleware.KinesisEventID(), r)
		}, "", "eventID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := tc.keys()
			if tc.wantErr != "" {
				if !errors.Is(err, middleware.ErrNoKey) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("keys = %q, %v; want ErrNoKey mentioning %q", ks, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(ks, []string{tc.want}) {
				t.Errorf("keys = %q, %v; want %q", ks, err, tc.want)
			}
		})
	}
	// Shard IDs repeat across streams: the stream's ARN keeps them apart.
	r := kin.Records[0]
	if ks, err := middleware.EvalKey(ctx0, middleware.KinesisEventID(), r); err != nil || !slices.Equal(ks, []string{r.EventSourceArn, r.EventID}) {
		t.Errorf("Kinesis event ID: %q, %v; want the stream ARN and the event ID", ks, err)
	}
}
