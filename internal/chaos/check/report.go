package check

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dynalock/dynalock/internal/chaos/history"
)

// Report is a checked run: its figures and its violations.
type Report struct {
	Run history.Run
	// Processes counts worker processes started; ClockSpread is how far
	// apart their clocks were at most.
	Processes   int
	ClockSpread time.Duration

	Sections, VoidSections int
	Calls                  map[string]int // Do calls by result
	LockOps                map[string]int // lock requests by "op/result"
	LedgerOps              map[string]int // ledger writes by "write|late/result"
	Requests               map[string]int // HTTP requests by DynamoDB operation
	Faults                 map[string]int // injected faults by kind
	Releases               map[string]int // sections by Do's release result; "" = holder died
	// FalseLost counts releases reported lost (ErrLockLost) although they
	// went through (a later item names the lease released by its holder)
	// and no operator force-released the lease: its answer was lost, and
	// the lock changed hands before the retry.
	FalseLost int
	// EarlyTakeovers counts releases reported lost before the lease's
	// deadline (the latest granted) with no item naming the lease
	// released and no operator's force: the lock was taken over while the
	// lease ran.
	EarlyTakeovers int
	// ForcedReportedReleased counts force-released leases whose release
	// was reported successful; LostToForce those rightly reported lost.
	ForcedReportedReleased, LostToForce int
	// ForcedSections counts sections whose lease an operator
	// force-released; EnteredForced those force-released before their
	// holder even began (the force came while the acquire's answer was on
	// its way).
	ForcedSections, EnteredForced int
	// Extends counts the holders' own Extend calls by
	// "shorter|longer/result"; ShortenedUnderContext those that left the
	// holder's context running past the lease's new deadline.
	Extends               map[string]int
	ShortenedUnderContext int
	// StoredEarlier counts lease ends stored (by an acquire or extend that
	// went through) earlier than the one stored before them for the same
	// lease: the lock moved a lease's end back.
	StoredEarlier int
	// MiddlewareOverextended counts middleware leases extended past the
	// invocation's deadline plus the grace.
	MiddlewareOverextended int
	// Overlaps, LostUpdates and TokenRegressions count those violations.
	Overlaps, TokenRegressions int
	LostUpdates                int64
	// SQS sums up the batches handed to the middleware.
	SQS struct {
		Batches, FIFOBatches, Records, RepeatedKeys int
		Ran, Failed, InvalidInput                   int           // records run, reported failed, failed with invalid input
		Overdue                                     int           // batches that outlived their deadline
		MaxLate, MaxStall                           time.Duration // latest return after a deadline; longest stall of a batch's process
	}
	// Forces counts the operators' force-releases by result; ForcesLanded
	// those that went through.
	Forces       map[string]int
	ForcesLanded int
	// LockRequests counts HTTP requests to the lock table by operation;
	// LateLanded those held back and landed after their caller gave up or
	// the SDK retried.
	LockRequests, LateLanded map[string]int

	Kills          map[string]int // SIGKILLs by reason
	CrashedHolding int            // holders killed while their lease lasted
	// Recovered counts dead holders' locks taken next by a worker that
	// was already waiting when the lease was over for it.
	Recovered int

	// Ledger sums up the sections' fenced writes.
	Ledger struct {
		Writes         int64 // Writes counters, all locks
		Sections       int64 // section writes in the logs
		Entries        int64 // log entries, late writes included
		Acked          int   // acknowledged and logged
		AckLost        int   // went through, answer lost, retry refused by its own write
		Refused        int   // fenced off by a newer holder
		UnknownApplied int   // no answer (error or death), but logged
		UnknownLost    int   // no answer, not logged
		Skipped        int   // not sent: the read failed or the deadline came
		LostToForces   int64 // increments lost to a force-released holder's write
		// FalseFenced counts section writes the fence refused although no
		// newer token could have been in the ledger yet, or while their
		// holder's lease was still valid.
		FalseFenced int
	}
	// Late sums up paused holders' writes after their lease.
	Late struct{ Refused, Accepted, Unknown int }

	// MinGapLapsed is the shortest time from a lapsed lease's deadline to
	// the next holder's entry; MinGapReleased the shortest from a released
	// section's end to the next entry; Overrun the longest a section ran
	// past its deadline.
	MinGapLapsed, MinGapReleased, Overrun time.Duration
	// OverrunsIntoNext counts sections that ran past their deadline into
	// the next holder's time: their holder stalled (the machine was busy)
	// and the lock had rightly moved on.
	OverrunsIntoNext int
	// MaxStuck is the longest a lock stayed without a holder after its
	// holder died holding it, while a worker was waiting for it;
	// MaxRecoveryAfterFree the longest that waiter took to acquire it once
	// the dead holder's lease was over by its own clock.
	MaxStuck, MaxRecoveryAfterFree time.Duration

	Violations []Violation
}

func newReport(h *history.History) *Report {
	r := &Report{
		Run: h.Run, Processes: len(h.Workers), Calls: map[string]int{}, LockOps: h.LockOps,
		LedgerOps: h.LedgerOps, Requests: h.Requests, Faults: h.Faults, Releases: map[string]int{}, Kills: map[string]int{},
		Extends: map[string]int{}, Forces: map[string]int{}, LockRequests: h.LockRequests, LateLanded: h.LateLanded,
	}
	for _, f := range h.Forces {
		r.Forces[f.Result]++
		if f.Landed {
			r.ForcesLanded++
		}
	}
	lo, hi := time.Duration(0), time.Duration(0)
	first := true
	for _, w := range h.Workers {
		if first || w.Offset < lo {
			lo = w.Offset
		}
		if first || w.Offset > hi {
			hi = w.Offset
		}
		first = false
		if w.Killed() {
			r.Kills[w.KillReason]++
		}
	}
	r.ClockSpread = hi - lo
	for _, c := range h.Calls {
		r.Calls[c.Path+"/"+c.Result]++
	}
	for _, s := range h.Sections {
		r.Sections++
		if s.Void {
			r.VoidSections++
		}
		r.Releases[s.Release]++
	}
	return r
}

// LockOperations is the number of lock requests the lock clients sent,
// counted at the HTTP layer: every acquire, release and extend attempt,
// the SDK's retries included (the operators' reads and force-releases
// not).
func (r *Report) LockOperations() int {
	return r.LockRequests[history.OpAcquire] + r.LockRequests[history.OpRelease] + r.LockRequests[history.OpExtend]
}

// OK reports whether the run had no violation.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

// Print writes the figures and up to maxViolations violations to w.
func (r *Report) Print(w io.Writer, maxViolations int) {
	p := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-22s %s\n", label+":", fmt.Sprintf(format, args...))
	}
	run := r.Run
	fmt.Fprintf(w, "DynaLock chaos run: %s of history, %d lock IDs, %d worker processes in all\n", run.Duration, len(run.LockIDs), r.Processes)
	p("settings", "TTL %s-%s, clock-skew tolerance %s, clocks up to %s apart, wait step up to %s", run.TTLMin, run.TTLMax, run.Tolerance, r.ClockSpread, run.RetryMax)
	if run.ObservedOnly {
		p("takeover", "by the observed-lease rule alone (the wall-clock rule off in every worker)")
	}
	p("HTTP requests", "%d (%s)", sum(r.Requests), counts(r.Requests))
	p("lock operations", "%d acquire, release and extend attempts sent (%s); force-releases %d, reads %d",
		r.LockOperations(), counts(pick(r.LockRequests, history.OpAcquire, history.OpRelease, history.OpExtend)), r.LockRequests[history.OpForce], r.LockRequests[history.OpRead])
	p("lock calls", "%s", counts(r.LockOps))
	p("calls", "%d (%s)", sum(r.Calls), counts(r.Calls))
	p("critical sections", "%d (%d granted already past their deadline, left untouched)", r.Sections, r.VoidSections)
	rel := maps.Clone(r.Releases)
	rel["holder died or batch never returned"] = rel[""]
	delete(rel, "")
	p("releases", "%s; reported lost though they went through %d; lost to a takeover before the lease's deadline %d; force-released reported released %d, reported lost %d", counts(rel), r.FalseLost, r.EarlyTakeovers, r.ForcedReportedReleased, r.LostToForce)
	p("operators", "%d force-releases (%s), %d went through; %d sections force-released (%d before their holder began)",
		sum(r.Forces), counts(r.Forces), r.ForcesLanded, r.ForcedSections, r.EnteredForced)
	p("holders' extends", "%d (%s); lease ends stored earlier than the one before %d; shortened under a running context %d", sum(r.Extends), counts(r.Extends), r.StoredEarlier, r.ShortenedUnderContext)
	q := r.SQS
	p("SQS batches", "%d (%d FIFO), %d records (%d repeating a key), %d ran, %d reported failed, %d failed with invalid input; %d outlived their deadline, latest return %s after it (allowed %s, plus its process's measured stall, longest %s); middleware leases extended past deadline + grace %d",
		q.Batches, q.FIFOBatches, q.Records, q.RepeatedKeys, q.Ran, q.Failed, q.InvalidInput, q.Overdue, q.MaxLate.Round(time.Millisecond), run.BatchSlack, q.MaxStall.Round(time.Millisecond), r.MiddlewareOverextended)
	failures := maps.Clone(r.Faults)
	delete(failures, "delay")
	p("faults injected", "%d failed requests (%s), %d delayed up to %s; %d lock requests landed late, up to %s (%s)",
		sum(failures), counts(failures), r.Faults["delay"], run.MaxDelay, sum(r.LateLanded), run.LateMax, counts(r.LateLanded))
	p("crashes", "%d SIGKILLs (%s); %d holders died holding their lock", sum(r.Kills), counts(r.Kills), r.CrashedHolding)
	l := r.Ledger
	p("ledger", "counters %d, section writes logged %d (log entries %d with late ones); section writes acknowledged %d, through with the answer lost %d, fenced off %d (falsely %d), outcome unknown %d through / %d not, not sent %d; increments lost to force-released holders %d",
		l.Writes, l.Sections, l.Entries, l.Acked, l.AckLost, l.Refused, l.FalseFenced, l.UnknownApplied, l.UnknownLost, l.Skipped, l.LostToForces)
	p("paused holders", "late writes refused by the fence %d, let through (no newer write yet) %d, unknown %d", r.Late.Refused, r.Late.Accepted, r.Late.Unknown)
	p("handovers", "lapsed lease's deadline to next holder >= %s; release to next holder >= %s; longest overrun past a deadline %s (%d into the next holder's time)",
		r.MinGapLapsed, r.MinGapReleased, max(r.Overrun, 0), r.OverrunsIntoNext)
	p("stuck after death", "%d dead holders' locks taken by a waiter: longest %s from the death to the next holder (TTL + tolerance + clock spread + one wait step = %s); the waiter got in at most %s after the lease was over by its clock (allowed: one wait step %s + slack %s)",
		r.Recovered, r.MaxStuck, run.TTLMax+run.Tolerance+r.ClockSpread+run.RetryMax, r.MaxRecoveryAfterFree, run.RetryMax, run.Slack)
	p("zero checks", "overlaps %d, early takeovers %d, shortened under a running context %d, lost updates %d, false fence refusals %d, token regressions %d, false ErrLockLost %d, batches past their deadline %d",
		r.Overlaps, r.EarlyTakeovers, r.ShortenedUnderContext, r.LostUpdates, l.FalseFenced, r.TokenRegressions, r.FalseLost, q.Overdue)
	p("violations", "%d", len(r.Violations))
	for i, v := range r.Violations {
		if i == maxViolations {
			fmt.Fprintf(w, "    … and %d more\n", len(r.Violations)-i)
			break
		}
		fmt.Fprintf(w, "    %s\n", v)
	}
}

// pick returns the entries of m under keys.
func pick(m map[string]int, keys ...string) map[string]int {
	out := map[string]int{}
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// counts formats m as "a 1, b 2", by key.
func counts(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
