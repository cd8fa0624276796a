package admin_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// payment is the event of the tests' payment function.
type payment struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}

// payments is a payment function wrapped with idempotency keyed by the
// payment's ID, counting its runs; gate, if not nil, holds each run until
// it is closed, after started gets a value.
type payments struct {
	h       func(context.Context, payment) (string, error)
	runs    atomic.Int32
	started chan struct{}
	gate    chan struct{}
}

func newPayments(t *testing.T, c *lock.Client, gated bool) *payments {
	t.Helper()
	p := &payments{}
	if gated {
		p.started, p.gate = make(chan struct{}, 1), make(chan struct{})
	}
	h, err := middleware.Wrap(c, middleware.JMESPath[payment]("id"), func(ctx context.Context, e payment) (string, error) {
		n := p.runs.Add(1)
		if p.gate != nil {
			p.started <- struct{}{}
			<-p.gate
		}
		return fmt.Sprintf("charged %d (run %d)", e.Amount, n), nil
	}, middleware.WithNamespace("payments"), middleware.WithIdempotency(middleware.JMESPath[payment]("id")),
		middleware.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	p.h = h
	return p
}

// forget sends the forget of seen, as an operator would after reading it.
func forget(t *testing.T, table string, seen admin.Record, force bool) error {
	t.Helper()
	in, err := admin.ForgetInput(table, seen, "alice@ops", "wrong amount charged", time.Now(), force)
	if err != nil {
		return err
	}
	_, err = srv.Client().UpdateItem(context.Background(), in)
	return err
}

// TestClaimCompleted: a completed payment reads as completed, with its
// completion time, expiry, result and how it was keyed: the namespace,
// the function, the key's name and the key itself.
func TestClaimCompleted(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "charge-card")
	ctx := context.Background()
	table, c := newTable(t, lock.Config{CompletionExpiry: time.Hour})
	p := newPayments(t, c, false)
	before := time.Now().Truncate(time.Millisecond)
	out, err := p.h(ctx, payment{ID: "pay-42", Amount: 100})
	if err != nil {
		t.Fatal(err)
	}
	rec := read(t, table, admin.ClaimID("payments", "charge-card", "pay-42"))
	now := time.Now()
	want := admin.Keying{Namespace: "payments", Scope: "charge-card", KeyName: "id", Keys: []string{"pay-42"}, Stored: true}
	if !rec.IsClaim() || rec.ClaimState(now) != admin.ClaimCompleted || fmt.Sprint(rec.Keying) != fmt.Sprint(want) {
		t.Errorf("record %+v: claim %v, state %s, keying %+v; want a completed claim keyed %+v", rec, rec.IsClaim(), rec.ClaimState(now), rec.Keying, want)
	}
	if rec.CompletedAt.Before(before) || rec.CompletedAt.After(now) || !rec.DoneUntil.Equal(rec.CompletedAt.Add(time.Hour)) ||
		string(rec.Result) != fmt.Sprintf("%q", out) {
		t.Errorf("completed at %s, done until %s, result %q; want now, an hour later, %q", rec.CompletedAt, rec.DoneUntil, rec.Result, out)
	}
	if _, err := admin.ForgetInput(table, rec, "a", "b", now, false); err != nil {
		t.Errorf("ForgetInput of a completed record: %v", err)
	}
}

// TestClaimInProgress: while the handler runs, the record is in progress,
// and forget refuses it unless forced.
func TestClaimInProgress(t *testing.T) {
	ctx := context.Background()
	table, c := newTable(t, lock.Config{})
	p := newPayments(t, c, true)
	done := make(chan error, 1)
	go func() { _, err := p.h(ctx, payment{ID: "pay-7", Amount: 5}); done <- err }()
	<-p.started
	defer func() {
		close(p.gate)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	rec := read(t, table, admin.ClaimID("payments", "", "pay-7"))
	if st := rec.ClaimState(time.Now()); st != admin.ClaimInProgress || !rec.IsClaim() || rec.Keying.Scope != "" || rec.Keying.Keys[0] != "pay-7" {
		t.Errorf("record of a running payment: state %s, keying %+v; want in progress", st, rec.Keying)
	}
	if _, err := admin.ForgetInput(table, rec, "a", "b", time.Now(), false); !errors.Is(err, admin.ErrClaimInProgress) {
		t.Errorf("ForgetInput of a record in progress, not forced: %v, want ErrClaimInProgress", err)
	}
}

// TestClaimForgetRefused: forget refuses a record in progress unless
// forced, and one that changed since it was read: here, completed in
// between, and, after a forget and a second run, forgotten and done again.
func TestClaimForgetRefused(t *testing.T) {
	ctx := context.Background()
	table, c := newTable(t, lock.Config{})
	p := newPayments(t, c, true)
	done := make(chan error, 1)
	go func() { _, err := p.h(ctx, payment{ID: "pay-8", Amount: 5}); done <- err }()
	<-p.started
	id := admin.ClaimID("payments", "", "pay-8")
	running := read(t, table, id)
	if err := forget(t, table, running, false); !errors.Is(err, admin.ErrClaimInProgress) {
		t.Fatalf("forget of a record in progress, not forced: %v, want ErrClaimInProgress", err)
	}
	close(p.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Forced, but the record completed since it was read: refused.
	var ccf *types.ConditionalCheckFailedException
	if err := forget(t, table, running, true); !errors.As(err, &ccf) {
		t.Fatalf("forced forget of a record completed since it was read: %v, want a conditional check failure", err)
	}
	if cur, _ := admin.Parse(ccf.Item); cur.ClaimState(time.Now()) != admin.ClaimCompleted {
		t.Errorf("the refusal carries %+v, want the completed record", cur)
	}

	// Read completed; then forgotten and run again by someone else: the
	// forget of what was read is refused, the second completion stays.
	p.gate = nil
	first := read(t, table, id)
	if err := forget(t, table, first, false); err != nil {
		t.Fatal(err)
	}
	if _, err := p.h(ctx, payment{ID: "pay-8", Amount: 5}); err != nil {
		t.Fatal(err)
	}
	if err := forget(t, table, first, false); !errors.As(err, &ccf) {
		t.Fatalf("forget of a record that was forgotten and completed again since it was read: %v, want a conditional check failure", err)
	}
	if rec := read(t, table, id); rec.ClaimState(time.Now()) != admin.ClaimCompleted || !strings.Contains(string(rec.Result), "run 2") {
		t.Errorf("after the refused forget: %s, result %s; want the second run's completion", rec.ClaimState(time.Now()), rec.Result)
	}
}

// TestClaimForgotten: a forgotten completion reads as forgotten, with who
// and why, and the payment's next delivery runs the handler again, which
// completes it with the new result. Forced, a claim in progress is
// forgotten too: its run's completion then does not go through, and the
// next delivery runs it.
func TestClaimForgotten(t *testing.T) {
	ctx := context.Background()
	table, c := newTable(t, lock.Config{})
	p := newPayments(t, c, false)
	id := admin.ClaimID("payments", "", "pay-9")
	if _, err := p.h(ctx, payment{ID: "pay-9", Amount: 100}); err != nil {
		t.Fatal(err)
	}
	if err := forget(t, table, read(t, table, id), false); err != nil {
		t.Fatal(err)
	}
	rec := read(t, table, id)
	if st := rec.ClaimState(time.Now()); st != admin.ClaimForgotten || rec.Result != nil || !rec.DoneUntil.IsZero() ||
		rec.Forgotten.By != "alice@ops" || rec.Forgotten.Reason != "wrong amount charged" || rec.Forgotten.Lease != rec.LeaseID || rec.Forgotten.At.IsZero() {
		t.Errorf("forgotten record: state %s, %+v", st, rec)
	}
	if _, err := admin.ForgetInput(table, rec, "a", "b", time.Now(), true); !errors.Is(err, admin.ErrNothingToForget) {
		t.Errorf("ForgetInput of a forgotten record: %v, want ErrNothingToForget", err)
	}
	out, err := p.h(ctx, payment{ID: "pay-9", Amount: 100})
	if err != nil || p.runs.Load() != 2 || out != "charged 100 (run 2)" {
		t.Fatalf("redelivery after the forget: %q, %v, %d runs; want the handler run again", out, err, p.runs.Load())
	}
	if rec := read(t, table, id); rec.ClaimState(time.Now()) != admin.ClaimCompleted || rec.Forgotten.By != "alice@ops" {
		t.Errorf("after the second run: %s, forgotten %+v; want completed, the forget kept for audit", rec.ClaimState(time.Now()), rec.Forgotten)
	}

	// Forced, in progress.
	g := newPayments(t, c, true)
	done := make(chan error, 1)
	go func() { _, err := g.h(ctx, payment{ID: "pay-10", Amount: 1}); done <- err }()
	<-g.started
	id = admin.ClaimID("payments", "", "pay-10")
	if err := forget(t, table, read(t, table, id), true); err != nil {
		t.Fatal(err)
	}
	close(g.gate)
	<-done // the run's completion is refused: logged, not the event's error
	if rec := read(t, table, id); rec.ClaimState(time.Now()) != admin.ClaimForgotten || !rec.Forced || rec.ReleasedBy != "alice@ops" {
		t.Errorf("forced forget in progress: state %s, forced %v by %q; want forgotten, force-released by alice", rec.ClaimState(time.Now()), rec.Forced, rec.ReleasedBy)
	}
	g.gate = nil
	if _, err := g.h(ctx, payment{ID: "pay-10", Amount: 1}); err != nil || g.runs.Load() != 2 {
		t.Errorf("redelivery after a forced forget: %v, %d runs; want the handler run again", err, g.runs.Load())
	}
}

// TestClaimExpired: once its completion expires, the record reads as
// expired, forget has nothing to do, and the next delivery runs.
func TestClaimExpired(t *testing.T) {
	ctx := context.Background()
	table, c := newTable(t, lock.Config{CompletionExpiry: 50 * time.Millisecond})
	p := newPayments(t, c, false)
	if _, err := p.h(ctx, payment{ID: "pay-11", Amount: 3}); err != nil {
		t.Fatal(err)
	}
	rec := read(t, table, admin.ClaimID("payments", "", "pay-11"))
	time.Sleep(time.Until(rec.DoneUntil) + time.Millisecond)
	if st := rec.ClaimState(time.Now()); st != admin.ClaimExpired {
		t.Errorf("state after DoneUntil: %s, want expired", st)
	}
	if _, err := admin.ForgetInput(table, rec, "a", "b", time.Now(), false); !errors.Is(err, admin.ErrNothingToForget) {
		t.Errorf("ForgetInput of an expired record: %v, want ErrNothingToForget", err)
	}
	if _, err := p.h(ctx, payment{ID: "pay-11", Amount: 3}); err != nil || p.runs.Load() != 2 {
		t.Errorf("delivery after the expiry: %v, %d runs; want the handler run again", err, p.runs.Load())
	}
}

// TestClaimIncomplete: a claim released without a completion (the handler
// failed) is incomplete, with nothing to forget; a plain lock is no claim.
func TestClaimIncomplete(t *testing.T) {
	ctx := context.Background()
	table, c := newTable(t, lock.Config{})
	h, err := middleware.Wrap(c, middleware.JMESPath[payment]("id"), func(context.Context, payment) (string, error) {
		return "", errors.New("card declined")
	}, middleware.WithNamespace("payments"), middleware.WithIdempotency(middleware.JMESPath[payment]("id")),
		middleware.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h(ctx, payment{ID: "pay-12"}); err == nil {
		t.Fatal("the failing handler's error was lost")
	}
	rec := read(t, table, admin.ClaimID("payments", "", "pay-12"))
	if st := rec.ClaimState(time.Now()); st != admin.ClaimIncomplete || !rec.IsClaim() {
		t.Errorf("record of a failed run: %s, claim %v; want incomplete", st, rec.IsClaim())
	}
	if _, err := admin.ForgetInput(table, rec, "a", "b", time.Now(), true); !errors.Is(err, admin.ErrNothingToForget) {
		t.Errorf("ForgetInput of an incomplete record: %v, want ErrNothingToForget", err)
	}
	if _, err := c.Lock("orders/1").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if rec := read(t, table, "orders/1"); rec.IsClaim() {
		t.Errorf("a plain lock reads as a claim: %+v", rec)
	}
}
