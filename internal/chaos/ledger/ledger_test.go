package ledger_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/dynalock/dynalock/internal/chaos/ledger"
	"github.com/dynalock/dynalock/internal/dynamotest"
)

var srv *dynamotest.Server

func TestMain(m *testing.M) { dynamotest.Main(m, &srv) }

// TestFence: writes go through in token order only; a repeated write (the
// SDK's retry of one that went through) and a stale one are refused; the
// counters and the log say what went through.
func TestFence(t *testing.T) {
	ctx := context.Background()
	table := dynamotest.TableName(t)
	if err := ledger.CreateTable(ctx, srv.Client(), table); err != nil {
		t.Fatal(err)
	}
	l := ledger.New(srv.Client(), table)
	steps := []struct {
		name  string
		write func() error
		fails bool
	}{
		{"first holder", func() error { return l.Write(ctx, "L", 10, 0) }, false},
		{"its retry", func() error { return l.Write(ctx, "L", 10, 0) }, true},
		{"next holder", func() error { return l.Write(ctx, "L", 12, 1) }, false},
		{"stale holder, late", func() error { return l.WriteLate(ctx, "L", 11) }, true},
		{"newer holder, late", func() error { return l.WriteLate(ctx, "L", 13) }, false},
	}
	for _, s := range steps {
		err := s.write()
		if s.fails != errors.Is(err, ledger.ErrFenced) || (!s.fails && err != nil) {
			t.Fatalf("%s: %v, fenced off: want %v", s.name, err, s.fails)
		}
	}
	n, err := l.Writes(ctx, "L")
	if err != nil || n != 2 {
		t.Fatalf("Writes = %d, %v; want 2", n, err)
	}
	st, err := l.Read(ctx, "L")
	if err != nil {
		t.Fatal(err)
	}
	if st.Writes != 2 || st.Late != 1 || st.LastToken != 13 || !slices.Equal(st.Log, []int64{10, 12, 13}) {
		t.Errorf("ledger = %+v, want 2 writes, 1 late, last token 13, log [10 12 13]", st)
	}
}
