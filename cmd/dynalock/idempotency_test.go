package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// charge is the event of the tests' payment function.
type charge struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}

// payFn is a payment function wrapped with idempotency keyed by the
// charge's ID under namespace "payments", counting its runs. While gate is
// open (not nil), each run waits for it, after telling started.
type payFn struct {
	h       func(context.Context, charge) (string, error)
	runs    atomic.Int32
	started chan struct{}
	gate    chan struct{}
	log     logBuffer
}

// logBuffer is a log's buffer, safe for concurrent writers.
type logBuffer struct {
	mu sync.Mutex // protects b
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// payments returns the payment function over the fixture's table, with
// its completions expiring after expiry (0: the default). Its scope is
// "charge-card", as if deployed under that name.
func (f *fixture) payments(expiry time.Duration, gated bool) *payFn {
	f.t.Helper()
	c, err := lock.NewClient(f.ctx, lock.Config{TableName: f.table, DynamoDB: f.db, CompletionExpiry: expiry})
	if err != nil {
		f.t.Fatal(err)
	}
	p := &payFn{}
	if gated {
		p.started, p.gate = make(chan struct{}, 1), make(chan struct{})
	}
	p.h, err = middleware.Wrap(c, middleware.JMESPath[charge]("id"), func(ctx context.Context, e charge) (string, error) {
		n := p.runs.Add(1)
		if p.gate != nil {
			p.started <- struct{}{}
			<-p.gate
		}
		return fmt.Sprintf("charged %d cents (run %d)", e.Amount, n), nil
	}, middleware.WithNamespace("payments"), middleware.WithIdempotency(middleware.JMESPath[charge]("id")),
		middleware.WithLogger(slog.New(slog.NewTextHandler(&p.log, nil))))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		if f.t.Failed() {
			f.t.Logf("the payment function's log:\n%s", p.log.String())
		}
	})
	return p
}

// run delivers e, failing the test on an error. Its context has no
// deadline, as outside Lambda: the middleware then gives a completion
// seconds, not an invocation's reserve (this machine may be loaded).
func (p *payFn) run(t *testing.T, e charge) string {
	t.Helper()
	out, err := p.h(context.Background(), e)
	if err != nil {
		t.Fatalf("delivery of %+v: %v", e, err)
	}
	return out
}

// byKey are the flags that find the record of charge id.
func byKeyFlags(id string) []string {
	return []string{"--namespace", "payments", "--function", "charge-card", "--key", id}
}

func matchAll(t *testing.T, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", p, out)
		}
	}
}

// TestIdempotencyCompleted: a completed charge, found by its key, shows
// its state, completion, expiry, result size and keying; --result prints
// the stored result; list shows it.
func TestIdempotencyCompleted(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "charge-card")
	f := newFixture(t)
	p := f.payments(0, false)
	out := p.run(t, charge{ID: "pay-42", Amount: 1999})
	id := admin.ClaimID("payments", "charge-card", "pay-42")

	r := f.cli(nil, append([]string{"idempotency", "show"}, byKeyFlags("pay-42")...)...)
	r.want(t, exitOK)
	matchAll(t, r.stdout,
		`(?m)^Claim ID +`+regexp.QuoteMeta(id)+`$`,
		`(?m)^State +completed: the next delivery is answered with the stored result, without running$`,
		`(?m)^Namespace +payments$`, `(?m)^Function +charge-card$`, `(?m)^Key +id=pay-42$`,
		`(?m)^Completed at +\S+ \(\S+ ago\)$`, `(?m)^Expires at +\S+ \(in 2[34]h\S+\)$`,
		fmt.Sprintf(`(?m)^Result +%d bytes$`, len(fmt.Sprintf("%q", out))), `(?m)^Payload SHA-256 +[0-9a-f]{64}$`)

	r = f.cli(nil, "idempotency", "show", id, "--result")
	r.want(t, exitOK)
	if r.stdout != fmt.Sprintf("%q\n", out) {
		t.Errorf("--result printed %q, want the output's JSON %q", r.stdout, fmt.Sprintf("%q\n", out))
	}
	r = f.cli(nil, "idempotency", "show", id, "--json")
	r.want(t, exitOK)
	var v claimView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatal(err)
	}
	if v.State != "completed" || v.Function != "charge-card" || v.KeyName != "id" || len(v.Keys) != 1 || v.Keys[0] != "pay-42" ||
		v.ResultBytes == nil || *v.ResultBytes != len(out)+2 || v.CompletedAt == nil || v.DoneUntil == nil {
		t.Errorf("--json: %+v", v)
	}

	f.acquire(f.ctx, "orders/1") // a plain lock is no idempotency record
	r = f.cli(nil, "idempotency", "list", "--namespace", "payments")
	r.want(t, exitOK)
	matchAll(t, r.stdout, `(?m)^STATE +FUNCTION +KEY +COMPLETED AT +EXPIRES IN +RESULT +TOKEN +CLAIM ID$`,
		`(?m)^completed +charge-card +id=pay-42 +\S+ +2[34]h\S+ +\d+ bytes +\d+ +`+regexp.QuoteMeta(id)+`$`)
	if r = f.cli(nil, "idempotency", "list"); strings.Contains(r.stdout, "orders/1") {
		t.Errorf("list shows a plain lock:\n%s", r.stdout)
	}
	r = f.cli(nil, "idempotency", "show", "orders/1")
	r.want(t, exitError)
	r = f.cli(nil, append([]string{"idempotency", "show"}, byKeyFlags("pay-43")...)...)
	r.want(t, exitNotFound)
}

// TestIdempotencyInProgress: a charge being run shows in progress, and
// forget refuses it without --force.
func TestIdempotencyInProgress(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "charge-card")
	f := newFixture(t)
	p := f.payments(0, true)
	done := make(chan error, 1)
	go func() { _, err := p.h(context.Background(), charge{ID: "pay-7", Amount: 5}); done <- err }()
	<-p.started
	defer func() {
		close(p.gate)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	r := f.cli(nil, append([]string{"idempotency", "show"}, byKeyFlags("pay-7")...)...)
	r.want(t, exitOK)
	matchAll(t, r.stdout, `(?m)^State +in-progress: `, `(?m)^Lease ends at +\S+ \(in \S+\)$`)
	if strings.Contains(r.stdout, "Completed at") {
		t.Errorf("a record in progress shows a completion:\n%s", r.stdout)
	}
	r = f.cli(strings.NewReader("yes\n"), append([]string{"idempotency", "forget", "--reason", "test"}, byKeyFlags("pay-7")...)...)
	r.want(t, exitHeld)
	if !strings.Contains(r.stderr, "is in progress") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("stderr %q, want the refusal naming --force", r.stderr)
	}
	if rec := f.record(admin.ClaimID("payments", "charge-card", "pay-7")); rec.ClaimState(time.Now()) != admin.ClaimInProgress {
		t.Errorf("after the refused forget: %s", rec.ClaimState(time.Now()))
	}
	r = f.cli(nil, "idempotency", "list")
	r.want(t, exitOK)
	matchAll(t, r.stdout, `(?m)^in-progress +charge-card +id=pay-7 +- +- +- +\d+ +payments/idempotency#`)
}

// TestIdempotencyExpired: an expired completion shows as expired, is
// listed only with --all, and forget has nothing to do.
func TestIdempotencyExpired(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "charge-card")
	f := newFixture(t)
	p := f.payments(50*time.Millisecond, false)
	p.run(t, charge{ID: "pay-11", Amount: 3})
	rec := f.record(admin.ClaimID("payments", "charge-card", "pay-11"))
	time.Sleep(time.Until(rec.DoneUntil) + time.Millisecond)

	r := f.cli(nil, append([]string{"idempotency", "show"}, byKeyFlags("pay-11")...)...)
	r.want(t, exitOK)
	matchAll(t, r.stdout, `(?m)^State +expired: the next delivery runs the handler$`, `(?m)^Expires at +\S+ \(\S+ ago\)$`)
	if r = f.cli(nil, "idempotency", "list"); !strings.Contains(r.stdout, "no idempotency records in progress or completed") {
		t.Errorf("list without --all:\n%s", r.stdout)
	}
	r = f.cli(nil, "idempotency", "list", "--all")
	matchAll(t, r.stdout, `(?m)^expired +charge-card +id=pay-11 +\S+ +ended \S+ ago +`)
	r = f.cli(nil, append([]string{"idempotency", "forget", "--reason", "test"}, byKeyFlags("pay-11")...)...)
	r.want(t, exitOK)
	matchAll(t, r.stdout, `is expired: the next delivery runs the handler already\. Nothing to do\.`)
}

// TestIdempotencyForgotten: forget, confirmed by typing yes, makes the
// record forgotten with who and why, and the next delivery runs the
// handler again; with --token, it forgets without asking.
func TestIdempotencyForgotten(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "charge-card")
	f := newFixture(t)
	p := f.payments(0, false)
	p.run(t, charge{ID: "pay-9", Amount: 100})
	id := admin.ClaimID("payments", "charge-card", "pay-9")
	token := f.record(id).Token

	r := f.cli(strings.NewReader("yes\n"), append([]string{"idempotency", "forget", "--reason", "wrong amount", "--by", "alice"}, byKeyFlags("pay-9")...)...)
	r.want(t, exitOK)
	matchAll(t, r.stdout,
		fmt.Sprintf(`Forget idempotency record "%s" \(id=pay-9\), completed at \S+ with \d+ bytes of result \(token %d\), so that its next delivery runs the handler again\?\nOnly yes will be accepted: `, regexp.QuoteMeta(id), token),
		`Recorded ForgottenBy "alice", ForgetReason "wrong amount"\. The next delivery of the event runs the handler again\.`)
	r = f.cli(nil, "idempotency", "show", id)
	matchAll(t, r.stdout, `(?m)^State +forgotten: the next delivery runs the handler$`, `(?m)^Forgotten +\S+ by alice: wrong amount$`)
	if strings.Contains(r.stdout, "Result") {
		t.Errorf("a forgotten record shows a result:\n%s", r.stdout)
	}
	if out := p.run(t, charge{ID: "pay-9", Amount: 100}); out != "charged 100 cents (run 2)" {
		t.Errorf("redelivery after the forget: %q, want a second run", out)
	}
	r = f.cli(nil, "idempotency", "show", id)
	matchAll(t, r.stdout, `(?m)^State +completed: `, `(?m)^Earlier forget +\S+ by alice: wrong amount$`)

	// With --token: no question.
	token = f.record(id).Token
	r = f.cli(nil, "idempotency", "forget", id, "--reason", "again", "--token", fmt.Sprint(token))
	r.want(t, exitOK)
	if strings.Contains(r.stdout, "Only yes") || f.record(id).ClaimState(time.Now()) != admin.ClaimForgotten {
		t.Errorf("forget --token asked, or did not forget:\n%s", r.stdout)
	}
}

// TestIdempotencyForgetRefused: forget changes nothing when not confirmed,
// when --token names another run, and when the record changed while the
// operator read the prompt.
func TestIdempotencyForgetRefused(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "charge-card")
	f := newFixture(t)
	p := f.payments(0, false)
	p.run(t, charge{ID: "pay-8", Amount: 5})
	id := admin.ClaimID("payments", "charge-card", "pay-8")
	token := f.record(id).Token
	args := []string{"idempotency", "forget", id, "--reason", "test"}

	r := f.cli(strings.NewReader("no\n"), args...)
	r.want(t, exitError)
	r = f.cli(nil, append(args, "--token", fmt.Sprint(token-1))...)
	r.want(t, exitHeld)
	if f.record(id).ClaimState(time.Now()) != admin.ClaimCompleted {
		t.Fatal("a refused forget changed the record")
	}

	// While the prompt is read, another operator forgets it and the event
	// runs again: this forget would erase the new run's completion.
	hook := &hookReader{r: strings.NewReader("yes\n"), hook: func() {
		in, err := admin.ForgetInput(f.table, f.record(id), "bob", "first", time.Now(), false)
		if err == nil {
			_, err = f.db.UpdateItem(f.ctx, in)
		}
		if err != nil {
			t.Error(err)
		}
		p.run(t, charge{ID: "pay-8", Amount: 5})
	}}
	r = f.cli(hook, args...)
	r.want(t, exitHeld)
	if !strings.Contains(r.stderr, "changed since it was shown: it is now completed") {
		t.Errorf("stderr %q", r.stderr)
	}
	if rec := f.record(id); rec.ClaimState(time.Now()) != admin.ClaimCompleted || p.runs.Load() != 2 {
		t.Errorf("after the refused forget: %s, %d runs; want the second run's completion kept", rec.ClaimState(time.Now()), p.runs.Load())
	}

	r = f.cli(nil, "idempotency", "forget", id)
	r.want(t, exitUsage)
	r = f.cli(nil, "idempotency", "forget", "--reason", "x")
	r.want(t, exitUsage)
	r = f.cli(nil, "idempotency", "show", id, "--namespace", "payments")
	r.want(t, exitUsage)
}

// TestIdempotencyGroupAlone: `dynalock idempotency` without a command is a
// usage error naming the three, and help finds each.
func TestIdempotencyGroupAlone(t *testing.T) {
	t.Parallel()
	r := runCLI(context.Background(), nil, "idempotency")
	r.want(t, exitUsage)
	if !strings.Contains(r.stderr, "list, show or forget") {
		t.Errorf("stderr %q", r.stderr)
	}
	for _, c := range []string{"list", "show", "forget"} {
		r := runCLI(context.Background(), nil, "help", "idempotency", c)
		r.want(t, exitOK)
		if !strings.HasPrefix(r.stdout, "Usage: dynalock idempotency "+c) {
			t.Errorf("help idempotency %s: %q", c, r.stdout)
		}
	}
}

// TestIdempotencyNotedByLockCommands: list and show of a claim point to
// the idempotency commands, on stderr.
func TestIdempotencyNotedByLockCommands(t *testing.T) {
	f := newFixture(t)
	f.payments(0, false).run(t, charge{ID: "pay-1", Amount: 1})
	id := admin.ClaimID("payments", "", "pay-1")
	r := f.cli(nil, "show", id)
	r.want(t, exitOK)
	if !strings.Contains(r.stderr, "`dynalock idempotency show "+id+"`") {
		t.Errorf("show of a claim: stderr %q", r.stderr)
	}
	r = f.cli(nil, "list", "--all", "--json")
	r.want(t, exitOK)
	if !strings.Contains(r.stderr, "1 of these is an idempotency record") || !json.Valid([]byte(r.stdout)) {
		t.Errorf("list --all of a claim: stderr %q, stdout %q", r.stderr, r.stdout)
	}
}
