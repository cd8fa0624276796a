package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/dynalock/dynalock/internal/accounts"
	"github.com/dynalock/dynalock/internal/appdata"
	"github.com/dynalock/dynalock/internal/dynamotest"
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
