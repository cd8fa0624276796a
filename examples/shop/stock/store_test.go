package stock_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/examples/shop/stock"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

var srv *dynamotest.Server

func TestMain(m *testing.M) { dynamotest.Main(m, &srv) }

func newStore(t *testing.T) *stock.Store {
	t.Helper()
	ctx := context.Background()
	name := dynamotest.TableName(t)
	db := srv.Client()
	if _, err := db.CreateTable(ctx, appdata.CreateTableInput(name)); err != nil {
		t.Fatal(err)
	}
	return &stock.Store{DB: db, Table: name}
}

func TestReserve(t *testing.T) {
	tests := []struct {
		name      string
		available int64
		orders    []stock.Order
		token     int64
		want      []stock.Result
		wantItem  stock.Item
	}{
		{
			name:      "reserves and counts",
			available: 10,
			orders:    []stock.Order{{OrderID: "a", SKU: "MUG", Quantity: 3}, {OrderID: "b", SKU: "MUG", Quantity: 2}},
			token:     7,
			want:      []stock.Result{stock.Reserved, stock.Reserved},
			wantItem:  stock.Item{SKU: "MUG", Available: 5, Reserved: 5, Orders: []string{"a", "b"}, Token: 7},
		},
		{
			name:      "a redelivered order changes nothing",
			available: 10,
			orders:    []stock.Order{{OrderID: "a", SKU: "MUG", Quantity: 3}, {OrderID: "a", SKU: "MUG", Quantity: 3}},
			token:     7,
			want:      []stock.Result{stock.Reserved, stock.Duplicate},
			wantItem:  stock.Item{SKU: "MUG", Available: 7, Reserved: 3, Orders: []string{"a"}, Token: 7},
		},
		{
			name:      "too few units rejects the order",
			available: 2,
			orders:    []stock.Order{{OrderID: "a", SKU: "MUG", Quantity: 3}, {OrderID: "b", SKU: "MUG", Quantity: 2}},
			token:     7,
			want:      []stock.Result{stock.OutOfStock, stock.Reserved},
			wantItem:  stock.Item{SKU: "MUG", Available: 0, Reserved: 2, Orders: []string{"b"}, Rejected: []string{"a"}, Token: 7},
		},
		{
			name:      "without a lock the write is unfenced",
			available: 10,
			orders:    []stock.Order{{OrderID: "a", SKU: "MUG", Quantity: 1}},
			token:     0,
			want:      []stock.Result{stock.Reserved},
			wantItem:  stock.Item{SKU: "MUG", Available: 9, Reserved: 1, Orders: []string{"a"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			if err := s.Put(ctx, "MUG", tt.available); err != nil {
				t.Fatal(err)
			}
			for i, o := range tt.orders {
				got, err := s.Reserve(ctx, o, tt.token)
				if err != nil {
					t.Fatalf("Reserve(%+v): %v", o, err)
				}
				if got != tt.want[i] {
					t.Errorf("Reserve(%+v) = %v, want %v", o, got, tt.want[i])
				}
			}
			it, err := s.Get(ctx, "MUG")
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(it.Orders)
			if fmt.Sprint(it) != fmt.Sprint(tt.wantItem) {
				t.Errorf("item = %+v, want %+v", it, tt.wantItem)
			}
		})
	}
}

func TestReserveRefusesStaleToken(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.Put(ctx, "MUG", 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, stock.Order{OrderID: "new", SKU: "MUG", Quantity: 1}, 9); err != nil {
		t.Fatal(err)
	}
	// The holder of token 8 was paused past its lease; the holder of 9 wrote since.
	_, err := s.Reserve(ctx, stock.Order{OrderID: "stale", SKU: "MUG", Quantity: 1}, 8)
	if !errors.Is(err, appdata.ErrStaleToken) {
		t.Fatalf("Reserve with an older token: err = %v, want appdata.ErrStaleToken", err)
	}
	it, err := s.Get(ctx, "MUG")
	if err != nil {
		t.Fatal(err)
	}
	if it.Available != 9 || it.Reserved != 1 || slices.Contains(it.Orders, "stale") || it.Token != 9 {
		t.Errorf("after a stale write: item = %+v, want the newer holder's write only", it)
	}
}

func TestReserveErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.Reserve(ctx, stock.Order{OrderID: "a", SKU: "NOPE", Quantity: 1}, 1); !errors.Is(err, appdata.ErrNotFound) {
		t.Errorf("unknown SKU: err = %v, want appdata.ErrNotFound", err)
	}
	for _, o := range []stock.Order{{SKU: "MUG", Quantity: 1}, {OrderID: "a", Quantity: 1}, {OrderID: "a", SKU: "MUG"}} {
		if _, err := s.Reserve(ctx, o, 1); !errors.Is(err, stock.ErrInvalidOrder) {
			t.Errorf("Reserve(%+v): err = %v, want stock.ErrInvalidOrder", o, err)
		}
	}
}

func TestParseOrder(t *testing.T) {
	tests := []struct {
		body    string
		want    stock.Order
		wantErr bool
	}{
		{body: `{"orderId":"o-1","sku":"MUG","quantity":2}`, want: stock.Order{OrderID: "o-1", SKU: "MUG", Quantity: 2}},
		{body: `{"orderId":"o-1","sku":"MUG","quantity":0}`, wantErr: true},
		{body: `not json`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := stock.ParseOrder(tt.body)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseOrder(%s) = %+v, %v; want %+v, error %v", tt.body, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, stock.ErrInvalidOrder) {
			t.Errorf("ParseOrder(%s): err = %v, want stock.ErrInvalidOrder", tt.body, err)
		}
	}
}

// Concurrent reservations of one SKU under its lock lose no update, even
// with work between each one's read and write.
func TestReserveUnderLockLosesNothing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	s.Think = 5 * time.Millisecond
	lockTable := dynamotest.TableName(t) + "-locks"
	if err := admin.CreateTable(ctx, srv.Client(), lockTable); err != nil {
		t.Fatal(err)
	}
	locks, err := lock.NewClient(ctx, lock.Config{TableName: lockTable, DynamoDB: srv.Client(), TTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "MUG", 100); err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- locks.Lock("sku/MUG").Do(ctx, func(ctx context.Context) error {
				l, _ := lock.FromContext(ctx)
				_, err := s.Reserve(ctx, stock.Order{OrderID: fmt.Sprint("o-", i), SKU: "MUG", Quantity: 1}, l.FencingToken())
				return err
			}, lock.WithWait(lock.WaitForever))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	it, err := s.Get(ctx, "MUG")
	if err != nil {
		t.Fatal(err)
	}
	if it.Available != 100-n || it.Reserved != n || len(it.Orders) != n {
		t.Errorf("after %d locked reservations: item = %+v, want %d available, %d reserved, %d orders", n, it, 100-n, n, n)
	}
}

// The handler writes through the lease in its context (no token
// attribute needed), writes unguarded without one, and fails a record it
// cannot read.
func TestHandlerRecord(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.Put(ctx, "MUG", 10); err != nil {
		t.Fatal(err)
	}
	locks := newLocks(t)
	h := &stock.Handler{Store: s}
	err := locks.Lock("sku/MUG").Do(ctx, func(ctx context.Context) error { return h.Record(ctx, msg("locked", "MUG")) })
	if err != nil {
		t.Fatal(err)
	}
	if it, _ := s.Get(ctx, "MUG"); it.Token != 0 || it.Reserved != 1 {
		t.Errorf("after a locked record: item = %+v, want no token, 1 reserved", it)
	}
	if err := h.Record(ctx, msg("unlocked", "MUG")); err != nil {
		t.Fatal(err)
	}
	if it, _ := s.Get(ctx, "MUG"); it.Reserved != 2 || len(it.Orders) != 2 {
		t.Errorf("after an unlocked record: item = %+v, want 2 reserved", it)
	}
	if err := h.Record(ctx, events.SQSMessage{MessageId: "bad", Body: "{}"}); !errors.Is(err, stock.ErrInvalidOrder) {
		t.Errorf("Record(bad body): err = %v, want stock.ErrInvalidOrder", err)
	}
}

func msg(order, sku string) events.SQSMessage {
	return events.SQSMessage{MessageId: "m-" + order, Body: fmt.Sprintf(`{"orderId":%q,"sku":%q,"quantity":1}`, order, sku)}
}

func newLocks(t *testing.T) *lock.Client {
	t.Helper()
	lockTable := dynamotest.TableName(t) + "-locks"
	if err := admin.CreateTable(context.Background(), srv.Client(), lockTable); err != nil {
		t.Fatal(err)
	}
	locks, err := lock.NewClient(context.Background(), lock.Config{TableName: lockTable, DynamoDB: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return locks
}

// A holder whose lease was lost (an operator freed it, another holder
// took it) changes nothing: the write is checked against the lease.
func TestReserveLeasedLostLease(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.Put(ctx, "MUG", 10); err != nil {
		t.Fatal(err)
	}
	locks := newLocks(t)
	err := locks.Lock("sku/MUG").Do(ctx, func(ctx context.Context) error {
		l, _ := lock.FromContext(ctx)
		if _, err := srv.Client().UpdateItem(ctx, admin.ForceReleaseInput(locks.Config().TableName, l.LockID(), l.LeaseID(), l.FencingToken(), "test", "test", time.Now())); err != nil {
			return err
		}
		_, err := s.ReserveLeased(ctx, stock.Order{OrderID: "late", SKU: "MUG", Quantity: 1})
		return err
	})
	if !errors.Is(err, lock.ErrLockLost) {
		t.Fatalf("reserve after the lease was lost: %v, want lock.ErrLockLost", err)
	}
	if it, _ := s.Get(ctx, "MUG"); it.Reserved != 0 || len(it.Orders) != 0 {
		t.Errorf("item = %+v, want nothing reserved", it)
	}
}

// Through the middleware, the reserve-stock function's way: with
// idempotency an order delivered again and again (in one batch, in later
// batches) is reserved once; without it, every delivery takes stock.
func TestHandlerIdempotent(t *testing.T) {
	for _, tc := range []struct {
		name       string
		idempotent bool
		want       int64
	}{{"with idempotency", true, 1}, {"without idempotency", false, 4}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			if err := s.Put(ctx, "MUG", 10); err != nil {
				t.Fatal(err)
			}
			opts := []middleware.Option{middleware.WithNamespace(stock.LockNamespace), middleware.WithLogger(slog.New(slog.DiscardHandler))}
			if tc.idempotent {
				opts = append(opts, middleware.WithIdempotency(stock.OrderKey()))
			}
			h, err := middleware.WrapSQS(newLocks(t), middleware.SQSBody("sku"), (&stock.Handler{Store: s}).Record, opts...)
			if err != nil {
				t.Fatal(err)
			}
			for _, batch := range [][]events.SQSMessage{{msg("o-1", "MUG"), msg("o-1", "MUG")}, {msg("o-1", "MUG")}, {msg("o-1", "MUG")}} {
				resp, err := h(ctx, events.SQSEvent{Records: batch})
				if err != nil || len(resp.BatchItemFailures) != 0 {
					t.Fatalf("batch: %+v, %v", resp, err)
				}
			}
			if it, _ := s.Get(ctx, "MUG"); it.Reserved != tc.want || it.Available != 10-tc.want {
				t.Errorf("one order delivered 4 times: item = %+v, want %d reserved", it, tc.want)
			}
		})
	}
}
