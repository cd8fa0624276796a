package stock_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/examples/shop/stock"
	"github.com/dynalock/dynalock/middleware"
)

// change is one stream record of the test: the SKU item's (or another
// item's) Available after the change, or a REMOVE.
type change struct {
	id        string
	available int64
	remove    bool
	eventID   string // default: one per position
}

func streamRecord(i int, c change) events.DynamoDBEventRecord {
	r := events.DynamoDBEventRecord{
		EventID:   c.eventID,
		EventName: string(events.DynamoDBOperationTypeModify),
		Change: events.DynamoDBStreamRecord{
			Keys:           map[string]events.DynamoDBAttributeValue{appdata.PartitionKey: events.NewStringAttribute(c.id)},
			SequenceNumber: fmt.Sprintf("%021d", 100+i),
			StreamViewType: "NEW_AND_OLD_IMAGES",
		},
	}
	if r.EventID == "" {
		r.EventID = "ev-" + strconv.Itoa(i)
	}
	if c.remove {
		r.EventName = string(events.DynamoDBOperationTypeRemove)
		return r
	}
	r.Change.NewImage = map[string]events.DynamoDBAttributeValue{
		appdata.PartitionKey: events.NewStringAttribute(c.id),
		"Available":          events.NewNumberAttribute(strconv.FormatInt(c.available, 10)),
	}
	return r
}

func alertWrap(t *testing.T, a *stock.Alerter, got *[]stock.AlertResult) func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	t.Helper()
	h := func(ctx context.Context, r events.DynamoDBEventRecord) error {
		res, err := a.Record(ctx, r)
		if err == nil {
			*got = append(*got, res)
		}
		return err
	}
	wrapped, err := middleware.WrapDynamoDBStream(newLocks(t), stock.AlertKey(), h,
		middleware.WithNamespace(stock.LockNamespace), middleware.WithRunUnkeyed(),
		middleware.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return wrapped
}

func TestAlerterRecord(t *testing.T) {
	const sku = "MUG"
	id := stock.ID(sku)
	tests := []struct {
		name      string
		changes   []change
		want      []stock.AlertResult
		wantAlert *stock.Alert // nil: no alert item
	}{
		{
			name:      "falling below the threshold raises one alert",
			changes:   []change{{id: id, available: 9}, {id: id, available: 4}, {id: id, available: 2}, {id: id, available: 0}},
			want:      []stock.AlertResult{stock.NoAlert, stock.Raised, stock.StillOpen, stock.StillOpen},
			wantAlert: &stock.Alert{SKU: sku, Status: stock.AlertOpen, Available: 4, Raised: 1, EventID: "ev-1"},
		},
		{
			name:      "at the threshold is not low",
			changes:   []change{{id: id, available: stock.DefaultAlertThreshold}},
			want:      []stock.AlertResult{stock.NoAlert},
			wantAlert: nil,
		},
		{
			name:      "restocking clears the alert",
			changes:   []change{{id: id, available: 4}, {id: id, available: 20}, {id: id, available: 30}},
			want:      []stock.AlertResult{stock.Raised, stock.Cleared, stock.NoAlert},
			wantAlert: &stock.Alert{SKU: sku, Status: stock.AlertCleared, Available: 20, Raised: 1, EventID: "ev-1"},
		},
		{
			name:      "falling again raises the next alert",
			changes:   []change{{id: id, available: 4}, {id: id, available: 20}, {id: id, available: 1}},
			want:      []stock.AlertResult{stock.Raised, stock.Cleared, stock.Raised},
			wantAlert: &stock.Alert{SKU: sku, Status: stock.AlertOpen, Available: 1, Raised: 2, EventID: "ev-2"},
		},
		{
			name:      "a redelivered record raises nothing more",
			changes:   []change{{id: id, available: 3, eventID: "ev-x"}, {id: id, available: 3, eventID: "ev-x"}},
			want:      []stock.AlertResult{stock.Raised, stock.StillOpen},
			wantAlert: &stock.Alert{SKU: sku, Status: stock.AlertOpen, Available: 3, Raised: 1, EventID: "ev-x"},
		},
		{
			name:      "removing the SKU clears its alert",
			changes:   []change{{id: id, available: 3}, {id: id, remove: true}},
			want:      []stock.AlertResult{stock.Raised, stock.Cleared},
			wantAlert: &stock.Alert{SKU: sku, Status: stock.AlertCleared, Available: 0, Raised: 1, EventID: "ev-1"},
		},
		{
			name:      "other items are ignored, unlocked",
			changes:   []change{{id: "account#42", available: 1}, {id: stock.AlertID(sku), available: 1}},
			want:      []stock.AlertResult{stock.Ignored, stock.Ignored},
			wantAlert: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			var got []stock.AlertResult
			h := alertWrap(t, &stock.Alerter{Store: s}, &got)
			var ev events.DynamoDBEvent
			for i, c := range tt.changes {
				ev.Records = append(ev.Records, streamRecord(i, c))
			}
			resp, err := h(ctx, ev)
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("batch: %v, failures %v", err, resp.BatchItemFailures)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("results %v, want %v", got, tt.want)
			}
			al, err := s.Alert(ctx, sku)
			switch {
			case tt.wantAlert == nil && !errors.Is(err, appdata.ErrNotFound):
				t.Errorf("alert %+v, %v; want none", al, err)
			case tt.wantAlert != nil && (err != nil || al != *tt.wantAlert):
				t.Errorf("alert %+v, %v; want %+v", al, err, *tt.wantAlert)
			}
		})
	}
}

// While reserve-stock holds the SKU's lock ("sku/<sku>", the same
// namespace) no alert is decided: the record fails with its own sequence
// number, the later ones are not run, and the stream retries from it.
func TestAlerterWaitsForTheSKULock(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	locks := newLocks(t)
	held, err := locks.Lock(stock.LockNamespace + "/MUG").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []stock.AlertResult
	a := &stock.Alerter{Store: s, Threshold: 10}
	h, err := middleware.WrapDynamoDBStream(locks, stock.AlertKey(), func(ctx context.Context, r events.DynamoDBEventRecord) error {
		res, err := a.Record(ctx, r)
		got = append(got, res)
		return err
	}, middleware.WithNamespace(stock.LockNamespace), middleware.WithRunUnkeyed(), middleware.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ev := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		streamRecord(0, change{id: stock.ID("CUP"), available: 1}),
		streamRecord(1, change{id: stock.ID("MUG"), available: 1}),
		streamRecord(2, change{id: stock.ID("CUP"), available: 50}),
	}}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := h(dctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	want := []events.DynamoDBBatchItemFailure{{ItemIdentifier: ev.Records[1].Change.SequenceNumber}}
	if !slices.Equal(resp.BatchItemFailures, want) {
		t.Fatalf("failures %v, want %v", resp.BatchItemFailures, want)
	}
	if !slices.Equal(got, []stock.AlertResult{stock.Raised}) {
		t.Errorf("results %v, want only CUP's record run: [raised]", got)
	}
	if _, err := s.Alert(ctx, "MUG"); !errors.Is(err, appdata.ErrNotFound) {
		t.Errorf("MUG alert while its lock was held: %v, want none", err)
	}
	// Once the lock is free, the redelivered records raise MUG's alert.
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	got = nil
	resp, err = h(dctx, events.DynamoDBEvent{Records: ev.Records[1:]})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %v, failures %v", err, resp.BatchItemFailures)
	}
	if !slices.Equal(got, []stock.AlertResult{stock.Raised, stock.Cleared}) {
		t.Errorf("redelivery results %v, want [raised cleared]", got)
	}
}

func TestSKUKeys(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		want    []string
		wantErr error
	}{
		{name: "a SKU item", id: stock.ID("BLUE-MUG"), want: []string{"BLUE-MUG"}},
		{name: "an account item", id: "account#42", wantErr: middleware.ErrNoKey},
		{name: "an alert item", id: stock.AlertID("BLUE-MUG"), wantErr: middleware.ErrNoKey},
		{name: "an empty SKU", id: stock.ID(""), wantErr: middleware.ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stock.SKUKeys(context.Background(), streamRecord(0, change{id: tt.id}))
			if !errors.Is(err, tt.wantErr) || !slices.Equal(got, tt.want) {
				t.Errorf("SKUKeys(%q) = %v, %v; want %v, %v", tt.id, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestAlerterRejectsKeysOnlyRecords(t *testing.T) {
	r := streamRecord(0, change{id: stock.ID("MUG")})
	r.Change.NewImage, r.Change.StreamViewType = nil, "KEYS_ONLY"
	if _, err := (&stock.Alerter{Store: newStore(t)}).Record(context.Background(), r); err == nil {
		t.Error("a record without NewImage: no error, want one naming the view type")
	}
}
