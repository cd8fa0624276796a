package demo

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dynalock/dynalock/admin"
)

// Report is what the demo did and found.
type Report struct {
	Endpoint  string
	LogDir    string
	Instances int
	// Locked and Unlocked are the runs with and without locking.
	Locked, Unlocked *Phase
	Crash            CrashResult
	// Alerts is low-stock-alerts fed the locked run's stream.
	Alerts AlertsResult
	// Backoff is reserve-stock's load without the visibility backoff.
	Backoff BackoffRun
	// Duplicates and DuplicatesOff are the duplicates scenario with the
	// functions' idempotency and without it.
	Duplicates, DuplicatesOff *Duplicates
	// Held are the locks still held at the end of the locked run.
	Held    []admin.Record
	Checks  []Check
	Elapsed time.Duration
}

// Check is one thing the demo asserts.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// OK reports whether every check passed.
func (r *Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

func (r *Report) check() {
	add := func(name string, ok bool, format string, args ...any) {
		r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	p := r.Locked
	var skus []string
	skusOK := true
	for _, s := range p.State.SKUs {
		skus = append(skus, fmt.Sprintf("%s %d/%d units", s.SKU, s.Reserved, s.Ordered))
		skusOK = skusOK && s.OK()
	}
	add("every order reserved exactly once (no lost update)", skusOK, "%s", strings.Join(skus, ", "))
	add("no SQS record dead-lettered", len(p.Stock.DeadLettered) == 0, "%d dead-lettered", len(p.Stock.DeadLettered))
	r.checkBackoff(add)
	var accs []string
	accsOK := true
	for _, a := range p.State.Accounts {
		accs = append(accs, fmt.Sprintf("account %s %s (want %s)", a.Account, cents(a.Balance), cents(a.Expected)))
		accsOK = accsOK && a.OK()
	}
	add("every transaction applied exactly once (no lost update)", accsOK, "%s", strings.Join(accs, ", "))
	add("no account event failed", len(p.Accounts.Failed) == 0, "%d failed every attempt", len(p.Accounts.Failed))
	add("every transfer request succeeded, retries included", p.Transfers.Succeeded() == p.Transfers.Requests && len(p.Transfers.Failed) == 0,
		"%d of %d answered 2xx; %s answered 409 Conflict first", p.Transfers.Succeeded(), p.Transfers.Requests, count(p.Transfers.Conflicts, "attempt", "attempts"))
	add("nightly-rollup runs never overlapped", p.State.Rollup.Overlaps == 0 && p.RollupOverlapped == 0 && p.RollupFailed == 0,
		"%s recorded, %s failed", count(p.State.Rollup.Overlaps+int64(p.RollupOverlapped), "overlap", "overlaps"), count(p.RollupFailed, "run", "runs"))
	add("nightly-rollup total equals the balances", p.Final.Total == p.State.Total() && p.Final.Accounts == int64(len(p.State.Accounts)),
		"%s over %s (want %s over %d)", cents(p.Final.Total), count(p.Final.Accounts, "account", "accounts"), cents(p.State.Total()), len(p.State.Accounts))
	r.checkAlerts(add)
	c := r.Crash
	add("the killed holder's lock freed itself, not before its lease ended", c.FreedAfter > 0 && c.FreedAfter >= c.LeaseLeft+tolerance,
		"freed %.1fs after the kill; lease ended %.1fs after it, + %s tolerance", c.FreedAfter.Seconds(), c.LeaseLeft.Seconds(), tolerance)
	m := p.Metrics
	var rel int64
	for _, fn := range FunctionNames() {
		rel += m[fn].ReleaseFailures
	}
	add("every release went through", rel == 0, "%s", count(rel, "release failure", "release failures"))
	var held []string
	for _, h := range r.Held {
		held = append(held, h.LockID)
	}
	add("nothing left locked", len(r.Held) == 0, "%s held at the end%s", count(len(r.Held), "lock", "locks"), strings.TrimRight(" "+strings.Join(held, ", "), " "))
	r.checkDuplicates()
}

// Print writes the report for a reader.
func (r *Report) Print(w io.Writer) {
	pf := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	pf("")
	pf("DynaLock demo: %d functions × %d Lambda execution environments (RIE; %s: 1, as one stream shard gets), DynamoDB Local",
		len(FunctionNames()), r.Instances, LowStockAlerts)
	pf("")
	r.printPhase(w, r.Locked)
	c := r.Crash
	pf("  %-17s SIGKILLed reserve-stock %.1fs into an invocation, while it held %s (fencing token %d);",
		"crash", c.KilledAfter.Seconds(), c.LockID, c.Holder.Token)
	pf("  %-17s its lease ran %.1fs more: the lock freed itself %.1fs after the kill (+ %s clock-skew tolerance);",
		"", c.LeaseLeft.Seconds(), c.FreedAfter.Seconds(), tolerance)
	pf("  %-17s the killed order was redelivered %s and reserved once", "", count(c.Attempts, "time", "times"))
	pf("")
	r.printBackoff(w)
	pf("")
	pf("Without locking (DYNALOCK_DISABLED=true), the same load:")
	r.printPhase(w, r.Unlocked)
	u := r.Unlocked.State
	lost := false
	for _, s := range u.SKUs {
		if s.LostUnits() != 0 {
			lost = true
			pf("  %-17s %s: %s for %s, but stock fell by %d: %s sold twice", "LOST UPDATES", s.SKU,
				count(s.Orders, "order", "orders"), count(s.Ordered, "unit", "units"), InitialStock-s.Available, count(s.LostUnits(), "unit", "units"))
		}
	}
	for _, a := range u.Accounts {
		if a.LostCents() != 0 {
			lost = true
			pf("  %-17s account %s: %s, balance %s, should be %s", "LOST UPDATES", a.Account,
				count(a.Transactions, "transaction", "transactions"), cents(a.Balance), cents(a.Expected))
		}
	}
	if o := u.Rollup.Overlaps; o > 0 {
		lost = true
		pf("  %-17s nightly-rollup: %s found another run started during theirs", "OVERLAPS", count(o, "run", "runs"))
	}
	if !lost {
		pf("  (no update was lost this time: the races are a matter of timing; run it again)")
	}
	pf("")
	r.printDuplicates(w)
	pf("")
	pf("Checks (with locking):")
	passed := 0
	for _, c := range r.Checks {
		mark := "FAIL"
		if c.OK {
			mark, passed = "ok  ", passed+1
		}
		pf("  %s %s: %s", mark, c.Name, c.Detail)
	}
	pf("")
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	pf("%s: %d of %d checks passed in %.0fs. Function logs: %s", verdict, passed, len(r.Checks), r.Elapsed.Seconds(), r.LogDir)
}

func (r *Report) printPhase(w io.Writer, p *Phase) {
	pf := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	m := p.Metrics
	runs := p.RollupRan + p.RollupSkipped + p.RollupOverlapped + p.RollupFailed
	if !p.Locked {
		pf("  %-17s %d orders in %d SQS batches: %d invocations, nothing redelivered",
			ReserveStock, p.Stock.Records, p.Stock.Batches, p.Stock.Invocations)
		pf("  %-17s %s: %s, none waited", AccountEvents, count(p.Accounts.Events, "event", "events"), count(p.Accounts.Invocations, "invocation", "invocations"))
		pf("  %-17s %d runs fired %d at a time: all %d ran, none skipped", NightlyRollup, runs, r.Instances, runs)
		pf("  %-17s %s at once: %s, no 409", AccountTransfers, count(p.Transfers.Requests, "request", "requests"), count(p.Transfers.Invocations, "invocation", "invocations"))
		return
	}
	pf("With locking:")
	pf("  %-17s %d orders in %d SQS batches: %d invocations; %d records came back in batchItemFailures and were redelivered (SKU locked: %d times)",
		ReserveStock, p.Stock.Records, p.Stock.Batches, p.Stock.Invocations, p.Stock.Redelivered, m[ReserveStock].Contended)
	pf("  %-17s %s: %s; %d waited for their account's lock; %d retried",
		AccountEvents, count(p.Accounts.Events, "event", "events"), count(p.Accounts.Invocations, "invocation", "invocations"), m[AccountEvents].Contended, p.Accounts.Retried)
	pf("  %-17s %d runs fired %d at a time: %d ran, %d skipped (lock held), %d overlapped another run",
		NightlyRollup, runs, r.Instances, p.RollupRan, p.RollupSkipped, p.RollupOverlapped)
	pf("  %-17s %s", AccountTransfers, transfersLine(p.Transfers))
	pf("  %-17s %s", LowStockAlerts, r.alertsLine())
	pf("  %-17s %s", "state", okMark(p.State.OK(), "every order and transaction counted exactly once", "LOST UPDATES"))
}

func okMark(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

// cents formats an amount of cents as dollars.
func cents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s$%d.%02d", sign, c/100, c%100)
}
