package accounts_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

var srv *dynamotest.Server

func TestMain(m *testing.M) { dynamotest.Main(m, &srv) }

func newStore(t *testing.T) *accounts.Store {
	t.Helper()
	name := dynamotest.TableName(t)
	db := srv.Client()
	if _, err := db.CreateTable(context.Background(), appdata.CreateTableInput(name)); err != nil {
		t.Fatal(err)
	}
	return &accounts.Store{DB: db, Table: name}
}

func TestApply(t *testing.T) {
	tx := func(id string, amount int64) accounts.Transaction {
		return accounts.Transaction{AccountID: "acct-1", TransactionID: id, Amount: amount}
	}
	tests := []struct {
		name    string
		opening int64
		txs     []accounts.Transaction
		token   int64
		want    []accounts.Result
		wantAcc accounts.Account
	}{
		{
			name:    "credits and debits",
			opening: 1000,
			txs:     []accounts.Transaction{tx("t1", 500), tx("t2", -1200)},
			token:   3,
			want:    []accounts.Result{accounts.Applied, accounts.Applied},
			wantAcc: accounts.Account{ID: "acct-1", Balance: 300, Applied: []string{"t1", "t2"}, Token: 3},
		},
		{
			name:    "a redelivered transaction changes nothing",
			opening: 1000,
			txs:     []accounts.Transaction{tx("t1", 500), tx("t1", 500)},
			token:   3,
			want:    []accounts.Result{accounts.Applied, accounts.Duplicate},
			wantAcc: accounts.Account{ID: "acct-1", Balance: 1500, Applied: []string{"t1"}, Token: 3},
		},
		{
			name:    "an overdraft is declined",
			opening: 100,
			txs:     []accounts.Transaction{tx("t1", -101), tx("t2", -100)},
			token:   3,
			want:    []accounts.Result{accounts.Declined, accounts.Applied},
			wantAcc: accounts.Account{ID: "acct-1", Balance: 0, Applied: []string{"t2"}, Declined: []string{"t1"}, Token: 3},
		},
		{
			name:    "without a lock the write is unfenced",
			opening: 100,
			txs:     []accounts.Transaction{tx("t1", 1)},
			token:   0,
			want:    []accounts.Result{accounts.Applied},
			wantAcc: accounts.Account{ID: "acct-1", Balance: 101, Applied: []string{"t1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			if err := s.Open(ctx, "acct-1", tt.opening); err != nil {
				t.Fatal(err)
			}
			for i, tx := range tt.txs {
				got, err := s.Apply(ctx, tx, tt.token)
				if err != nil {
					t.Fatalf("Apply(%+v): %v", tx, err)
				}
				if got != tt.want[i] {
					t.Errorf("Apply(%+v) = %v, want %v", tx, got, tt.want[i])
				}
			}
			a, err := s.Get(ctx, "acct-1")
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(a.Applied)
			if fmt.Sprint(a) != fmt.Sprint(tt.wantAcc) {
				t.Errorf("account = %+v, want %+v", a, tt.wantAcc)
			}
		})
	}
}

func TestApplyRefusesStaleToken(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.Open(ctx, "acct-1", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, accounts.Transaction{AccountID: "acct-1", TransactionID: "new", Amount: 10}, 5); err != nil {
		t.Fatal(err)
	}
	_, err := s.Apply(ctx, accounts.Transaction{AccountID: "acct-1", TransactionID: "stale", Amount: 10}, 4)
	if !errors.Is(err, appdata.ErrStaleToken) {
		t.Fatalf("Apply with an older token: err = %v, want appdata.ErrStaleToken", err)
	}
	a, err := s.Get(ctx, "acct-1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Balance != 10 || slices.Contains(a.Applied, "stale") {
		t.Errorf("after a stale write: account = %+v, want the newer holder's write only", a)
	}
}

func TestApplyErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.Apply(ctx, accounts.Transaction{AccountID: "nope", TransactionID: "t", Amount: 1}, 1); !errors.Is(err, appdata.ErrNotFound) {
		t.Errorf("unknown account: err = %v, want appdata.ErrNotFound", err)
	}
	for _, detail := range []string{`{"transactionId":"t","amount":1}`, `{"accountId":"a","amount":1}`, `{"accountId":"a","transactionId":"t"}`, `[]`} {
		if _, err := accounts.ParseTransaction([]byte(detail)); !errors.Is(err, accounts.ErrInvalidTransaction) {
			t.Errorf("ParseTransaction(%s): err = %v, want accounts.ErrInvalidTransaction", detail, err)
		}
	}
}

func TestFromEvent(t *testing.T) {
	ev := func(detailType, detail string) events.EventBridgeEvent {
		return events.EventBridgeEvent{ID: "evt-1", DetailType: detailType, Detail: json.RawMessage(detail)}
	}
	tests := []struct {
		name    string
		event   events.EventBridgeEvent
		want    accounts.Transaction
		wantErr bool
	}{
		{name: "credit", event: ev(accounts.Credited, `{"accountId":"42","amount":25,"transactionId":"tx-1"}`),
			want: accounts.Transaction{AccountID: "42", TransactionID: "tx-1", Amount: 25}},
		{name: "debit, the event ID as transaction ID", event: ev(accounts.Debited, `{"accountId":"42","amount":10}`),
			want: accounts.Transaction{AccountID: "42", TransactionID: "evt-1", Amount: -10}},
		{name: "unknown detail-type", event: ev("AccountFrozen", `{"accountId":"42","amount":10}`), wantErr: true},
		{name: "negative amount", event: ev(accounts.Debited, `{"accountId":"42","amount":-10}`), wantErr: true},
		{name: "no account", event: ev(accounts.Debited, `{"amount":10}`), wantErr: true},
		{name: "detail not JSON", event: ev(accounts.Debited, `nope`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := accounts.FromEvent(tt.event)
			if tt.wantErr {
				if !errors.Is(err, accounts.ErrInvalidTransaction) {
					t.Errorf("FromEvent() = %+v, %v; want accounts.ErrInvalidTransaction", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("FromEvent() = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// The handler writes through the lease in its context: no token attribute
// is needed.
func TestHandlerWritesUnderLease(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.Open(ctx, "42", 100); err != nil {
		t.Fatal(err)
	}
	locks := newLocks(t)
	h := &accounts.Handler{Store: s}
	err := locks.Lock("account/42").Do(ctx, func(ctx context.Context) error {
		out, err := h.Handle(ctx, credit("e", 5))
		if err == nil && out.Result != "applied" {
			t.Errorf("Handle() = %+v, want applied", out)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Get(ctx, "42"); a.Balance != 105 || a.Token != 0 || fmt.Sprint(a.Applied) != "[e]" {
		t.Errorf("account = %+v, want balance 105, no token", a)
	}
	// A lease lost before the write: nothing changes.
	err = locks.Lock("account/42").Do(ctx, func(ctx context.Context) error {
		l, _ := lock.FromContext(ctx)
		if _, err := srv.Client().UpdateItem(ctx, admin.ForceReleaseInput(locks.Config().TableName, l.LockID(), l.LeaseID(), l.FencingToken(), "test", "test", time.Now())); err != nil {
			return err
		}
		_, err := h.Handle(ctx, credit("late", 5))
		return err
	})
	if !errors.Is(err, lock.ErrLockLost) {
		t.Fatalf("after the lease was lost: %v, want lock.ErrLockLost", err)
	}
	if a, _ := s.Get(ctx, "42"); a.Balance != 105 {
		t.Errorf("account = %+v, want the lost holder's credit not applied", a)
	}
}

func credit(id string, amount int) events.EventBridgeEvent {
	return events.EventBridgeEvent{ID: id, DetailType: accounts.Credited, Detail: json.RawMessage(fmt.Sprintf(`{"accountId":"42","amount":%d}`, amount))}
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

// Through the middleware, the account-events function's way: with
// idempotency a transaction delivered four times is applied once, and
// every duplicate gets the first Outcome; without it, each delivery
// credits the account.
func TestHandlerIdempotent(t *testing.T) {
	for _, tc := range []struct {
		name       string
		idempotent bool
		want       int64
	}{{"with idempotency", true, 110}, {"without idempotency", false, 140}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			if err := s.Open(ctx, "42", 100); err != nil {
				t.Fatal(err)
			}
			opts := []middleware.Option{middleware.WithNamespace(accounts.LockNamespace), middleware.WithLogger(slog.New(slog.DiscardHandler))}
			if tc.idempotent {
				opts = append(opts, middleware.WithIdempotency(accounts.TransactionKey()))
			}
			h, err := middleware.Wrap(newLocks(t), middleware.EventBridgeDetail("accountId"), (&accounts.Handler{Store: s}).Handle, opts...)
			if err != nil {
				t.Fatal(err)
			}
			for range 4 {
				out, err := h(ctx, credit("evt-1", 10))
				if err != nil || out != (accounts.Outcome{AccountID: "42", TransactionID: "evt-1", Result: "applied"}) {
					t.Fatalf("delivery: %+v, %v", out, err)
				}
			}
			if _, err := h(ctx, events.EventBridgeEvent{ID: "bad", DetailType: "Nope"}); err == nil {
				t.Error("an event that is no transaction did not fail")
			}
			if a, _ := s.Get(ctx, "42"); a.Balance != tc.want {
				t.Errorf("one credit of 10 delivered 4 times: balance %d, want %d", a.Balance, tc.want)
			}
		})
	}
}

// A transaction ID names one transaction: a second event carrying it with
// the same detail (a producer's re-publish, with its own event ID) is a
// duplicate, answered with the first's output, and the transaction is
// applied once; the ID reused with another detail fails as a reused key.
// The middleware compares an EventBridge event's detail.
func TestTransactionIDInAnotherEvent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.Open(ctx, "42", 100); err != nil {
		t.Fatal(err)
	}
	h, err := middleware.Wrap(newLocks(t), middleware.EventBridgeDetail("accountId"), (&accounts.Handler{Store: s}).Handle,
		middleware.WithNamespace(accounts.LockNamespace), middleware.WithLogger(slog.New(slog.DiscardHandler)),
		middleware.WithIdempotency(accounts.TransactionKey()))
	if err != nil {
		t.Fatal(err)
	}
	ev := func(id string, amount int) events.EventBridgeEvent {
		return events.EventBridgeEvent{ID: id, DetailType: accounts.Credited,
			Detail: json.RawMessage(fmt.Sprintf(`{"accountId":"42","amount":%d,"transactionId":"tx-1"}`, amount))}
	}
	first, err := h(ctx, ev("evt-1", 10))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := h(ctx, ev("evt-2", 10)); err != nil || out != first {
		t.Errorf("tx-1 re-published in a second event: %+v, %v; want the first's output %+v", out, err, first)
	}
	if out, err := h(ctx, ev("evt-3", 99)); !errors.Is(err, lock.ErrPayloadMismatch) {
		t.Errorf("tx-1 in an event with another detail: %+v, %v; want lock.ErrPayloadMismatch", out, err)
	}
	if a, _ := s.Get(ctx, "42"); a.Balance != 110 {
		t.Errorf("balance %d, want 110: tx-1 applied once", a.Balance)
	}
}
