package demo

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/dynalock/dynalock/admin"
)

// Report is what the demo did and found.
type Report struct {
	Endpoint  string
	LogDir    string
	Instances int
	// Full is true for the long scenario set.
	Full bool
	// Locked and Unlocked are the runs with and without locking.
	Locked, Unlocked *Phase
	// Unprocessed are the locked run's events that never got a success.
	Unprocessed Unprocessed
	Crash       CrashResult
	// Alerts is low-stock-alerts fed the locked run's stream.
	Alerts AlertsResult
	// Backoff is reserve-stock's load without the visibility backoff.
	Backoff BackoffRun
	// Duplicates and DuplicatesOff are the duplicates scenario with the
	// functions' idempotency and without it.
	Duplicates, DuplicatesOff *Duplicates
	// Tenants is tenant-exports' per-tenant limit (WithPermits).
	Tenants *TenantRun
	// Held are the locks still held at HeldAt, once every function had
	// stopped: locks whose release did not go through.
	Held   []admin.Record
	HeldAt time.Time
	// LoadStart and LoadEnd are the machine's one-minute load averages
	// ("" where unknown).
	LoadStart, LoadEnd string
	Checks             []Check
	Elapsed            time.Duration
}

// Check is one promise the demo judges: a FAIL is a bug, whatever the
// machine's load.
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

// Lease bounds, for the check that nothing is left locked: a function's
// lease ends at most its timeout plus the middleware's grace (1 s) after
// its invocation began, and a lease taken after waiting (the Wait policy)
// at most one wait slice (1 s) later.
const (
	grace     = time.Second
	waitSlice = time.Second
	// maxLease is the longest a lock may stay held after its holder's
	// invocation began.
	maxLease = Timeout*time.Second + grace + waitSlice
)

// Section headings of the report, in order. docs/DEMO.md's sample output
// shows the same (a test compares them).
const (
	headLocked     = "1. With locking: five functions on the same SKUs and account at once"
	headCrash      = "2. A holder is killed mid-handler: its lock frees itself when its lease ends"
	headBackoff    = "3. The SQS visibility backoff: a record whose SKU is held comes back when the lock can be free"
	headUnlocked   = "4. Without locking (DYNALOCK_DISABLED=true): the same load loses updates"
	headDuplicates = "5. Duplicate deliveries: idempotency gives each event one effect"
	headTenants    = "6. A per-tenant limit: at most TENANT_PERMITS exports of one tenant at once, other tenants meanwhile"
	headTiming     = "7. Timing on this machine: figures, not failures"
	headChecks     = "Checks: the promises (a FAIL is a bug, whatever the machine's load)"
)

func (r *Report) check() {
	add := func(name string, ok bool, format string, args ...any) {
		r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	p := r.Locked
	missing, acked := r.Unprocessed.Acknowledged(p.State)
	var skus []string
	skusOK, recorded := acked, 0
	for _, s := range p.State.SKUs {
		skus = append(skus, fmt.Sprintf("%s %d/%d units", s.SKU, s.Reserved, s.RecordedUnits))
		skusOK = skusOK && s.EffectOnce()
		recorded += s.Recorded
	}
	add("each order took effect once (no lost update)", skusOK && recorded > 0,
		"%s taken for the orders recorded; %s", strings.Join(skus, ", "), missingLine(missing, acked))
	var accs []string
	accsOK, applied := acked, 0
	for _, a := range p.State.Accounts {
		accs = append(accs, fmt.Sprintf("account %s %s (opening + %s applied: %s)", a.Account, cents(a.Balance),
			count(a.Applied, "transaction", "transactions"), cents(OpeningBalance+a.AppliedAmount)))
		accsOK = accsOK && a.EffectOnce()
		applied += a.Applied
	}
	add("each account event and transfer took effect once (no lost update)", accsOK && applied > 0, "%s", strings.Join(accs, ", "))
	overlaps := p.State.Rollup.Overlaps + int64(p.RollupOverlapped)
	add("nightly-rollup runs never overlapped", overlaps == 0, "%s recorded", count(overlaps, "overlap", "overlaps"))
	add("nightly-rollup's total equals the balances", p.Final.Total == p.State.Total() && p.Final.Accounts == int64(len(p.State.Accounts)),
		"%s over %s (the balances: %s over %d)", cents(p.Final.Total), count(p.Final.Accounts, "account", "accounts"), cents(p.State.Total()), len(p.State.Accounts))
	r.checkAlerts(add)
	c := r.Crash
	add("the killed holder's lock freed itself, not before its lease ended", c.FreedAfter > 0 && c.FreedAfter >= c.LeaseLeft+tolerance,
		"freed %.1fs after the kill; lease ended %.1fs after it, + %s tolerance", c.FreedAfter.Seconds(), c.LeaseLeft.Seconds(), tolerance)
	r.checkBackoff(add)
	r.checkHeld(add)
	r.checkDuplicates(add)
	r.checkTenants(add)
}

// missingLine says whether a state misses events: none, only events
// never acknowledged, or acknowledged ones.
func missingLine(missing int, acked bool) string {
	switch {
	case missing == 0:
		return "none missing"
	case acked:
		return fmt.Sprintf("%s missing, each one never acknowledged (section 7)", count(missing, "event", "events"))
	}
	return fmt.Sprintf("%s missing, SOME ACKNOWLEDGED AS PROCESSED", count(missing, "event", "events"))
}

// checkHeld adds the check that no lock outlives its lease: once every
// function has stopped, a lock still held is one whose release did not
// go through, and its lease must end within maxLease.
func (r *Report) checkHeld(add func(name string, ok bool, format string, args ...any)) {
	ok := true
	var held []string
	for _, h := range r.Held {
		left := h.ExpiresAt.Sub(r.HeldAt)
		ok = ok && left <= maxLease
		held = append(held, fmt.Sprintf("%s (lease ends in %.1fs)", h.LockID, left.Seconds()))
	}
	detail := "0 locks held once the functions stopped"
	if len(held) > 0 {
		detail = fmt.Sprintf("%s held once the functions stopped, their release past its budget (section 7), each until its lease ends, at most %s: %s",
			count(len(held), "lock", "locks"), maxLease, strings.Join(held, ", "))
	}
	add("nothing left locked beyond its lease", ok, "%s", detail)
}

// Print writes the report for a reader: a section per scenario, what was
// done and what it shows, then the timing figures and the checks.
func (r *Report) Print(w io.Writer) {
	pf := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	run := "quick run; make demo-full runs the long one"
	if r.Full {
		run = "full run"
	}
	pf("")
	pf("DynaLock demo (%s): %d example functions, %d Lambda execution environments each (%s: %d; the Lambda Runtime Interface Emulator), DynamoDB Local",
		run, len(FunctionNames()), r.Instances, TenantExports, tenantInstances)
	pf("")
	pf("%s", headLocked)
	r.printPhase(w, r.Locked)
	pf("")
	pf("%s", headCrash)
	c := r.Crash
	pf("  %-17s a fifth reserve-stock environment took %s (fencing token %d) and was SIGKILLed %.1fs into its invocation",
		"did", c.LockID, c.Holder.Token, c.KilledAfter.Seconds())
	pf("  %-17s its lease ran %.1fs more; the order, redelivered every 100 ms, got the lock %.1fs after the kill (lease end + %s clock-skew tolerance) on attempt %d, and was reserved once",
		"crash", c.LeaseLeft.Seconds(), c.FreedAfter.Seconds(), tolerance, c.Attempts)
	pf("  %-17s %s", "shows", "a crashed holder blocks its key only until its lease ends, never forever, and never less")
	pf("")
	pf("%s", headBackoff)
	r.printBackoff(w)
	pf("")
	pf("%s", headUnlocked)
	r.printPhase(w, r.Unlocked)
	pf("")
	pf("%s", headDuplicates)
	r.printDuplicates(w)
	pf("")
	pf("%s", headTenants)
	r.printTenants(w)
	pf("")
	pf("%s", headTiming)
	r.printTiming(w)
	pf("")
	pf("%s", headChecks)
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
	pf("%s: %d of %d promises held, in %.0fs. Function logs: %s", verdict, passed, len(r.Checks), r.Elapsed.Seconds(), r.LogDir)
}

func (r *Report) printPhase(w io.Writer, p *Phase) {
	pf := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	m := p.Metrics
	runs := p.RollupRan + p.RollupSkipped + p.RollupOverlapped + p.RollupFailed
	if !p.Locked {
		pf("  %-17s the same events to fresh environments and a fresh application table, with DYNALOCK_DISABLED=true", "did")
		u := p.State
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
			pf("  %-17s nightly-rollup: %s of %d found another run started during theirs", "OVERLAPS", count(o, "run", "runs"), runs)
		}
		shows := "reads and writes of one SKU or account interleave: increments are lost, rollup runs overlap"
		if !lost {
			shows = "no update was lost this time: the races are a matter of timing (run it again)"
		}
		pf("  %-17s %s", "shows", shows)
		return
	}
	pf("  %-17s %s to reserve-stock (SQS), %s (EventBridge) and %s (HTTP API) on one account, at once; %d nightly-rollup runs fired %d at a time (schedule); low-stock-alerts reads the table's stream",
		"did", count(p.Stock.Records, "order", "orders"), count(p.Accounts.Events, "account event", "account events"), count(p.Transfers.Requests, "transfer", "transfers"),
		runs, r.Instances)
	pf("  %-17s %d invocations; %d records came back in batchItemFailures (SKU locked: %d times) and were redelivered",
		ReserveStock, p.Stock.Invocations, p.Stock.Redelivered, m[ReserveStock].Contended)
	pf("  %-17s %s; %d waited for their account's lock; %d retried",
		AccountEvents, count(p.Accounts.Invocations, "invocation", "invocations"), m[AccountEvents].Contended, p.Accounts.Retried)
	pf("  %-17s %s", AccountTransfers, transfersLine(p.Transfers))
	pf("  %-17s %d ran, %d skipped (lock held), %d overlapped another run",
		NightlyRollup, p.RollupRan, p.RollupSkipped, p.RollupOverlapped)
	pf("  %-17s %s", LowStockAlerts, r.alertsLine())
	pf("  %-17s %s", "shows", okMark(p.State.OK(), "every order and transaction counted exactly once; one rollup at a time; one alert per low SKU",
		"not every event was processed: see section 7 and the checks"))
}

// printTiming writes the figures that depend on the machine's speed and
// load, each with its cause: none is a broken promise.
func (r *Report) printTiming(w io.Writer) {
	pf := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p := r.Locked
	if r.LoadStart != "" {
		pf("  %-17s load average %s at the start, %s at the end; %d CPUs", "machine", r.LoadStart, r.LoadEnd, runtime.NumCPU())
	}
	pf("  %-17s functions time out after %ds here (the stack: 30s), so a killed holder's lock frees itself in seconds; the SQS visibility timeout is %d × that;",
		"budgets", Timeout, VisibilityTimeoutFactor)
	pf("  %-17s the middleware ends a handler 500ms before the deadline, for the release: milliseconds in AWS, slower from DynamoDB Local on a busy machine", "")
	var rel int64
	for _, fn := range FunctionNames() {
		rel += p.Metrics[fn].ReleaseFailures
	}
	if rel == 0 {
		pf("  %-17s every release went through", "releases")
	} else {
		pf("  %-17s %s past the budget: the lock then stays held until its lease ends (checked)", "releases", count(rel, "release", "releases"))
	}
	notTaken := max(p.Stock.Redelivered-p.Stock.VisibilityChanges, 0)
	pf("  %-17s reserve-stock %d records, low-stock-alerts %d, account-events %d retried invocations, account-transfers %d 409 answers: the price of contention",
		"redeliveries", p.Stock.Redelivered, r.Alerts.Stream.Retried, p.Accounts.Retried, p.Transfers.Conflicts)
	pf("  %-17s %s of reserve-stock came back without the backoff's visibility change: %s",
		"backoffs missed", count(notTaken, "redelivery", "redeliveries"),
		okMark(notTaken == 0, "none", fmt.Sprintf("records an invocation had no time left to start, or whose invocation failed whole (%d), keep the %s visibility timeout and wait it out",
			p.Stock.BatchFailed, StackQueue().Visibility)))
	u := r.Unprocessed
	pf("  %-17s %d orders dead-lettered (maxReceiveCount %d), %d account events failed every attempt, %d transfers given up by their client, %d rollup runs failed: %s",
		"not processed", u.DeadLettered, MaxReceiveCount, u.FailedEvents, u.GaveUp, p.RollupFailed,
		okMark(u.DeadLettered+u.FailedEvents+u.GaveUp+p.RollupFailed == 0, "none", "retries ran out under contention; their effects are absent or once, never twice (checked)"))
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
