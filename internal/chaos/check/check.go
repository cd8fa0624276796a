// Package check proves a chaos run's history free of mutual-exclusion
// violations, or says where it is not, and sums the run up in figures.
package check

import (
	"fmt"
	"sort"
	"time"

	"github.com/dynalock/dynalock/internal/chaos/history"
)

// Rules a history is checked against; a Violation names one.
const (
	RuleHistory  = "history"  // the records themselves are inconsistent
	RuleOverlap  = "overlap"  // two holders of one lock were in their critical sections at once
	RuleTokens   = "tokens"   // fencing tokens did not strictly increase in the order of acquisition
	RuleLedger   = "ledger"   // a ledger update was lost, or the fence let a stale write through
	RuleFinal    = "final"    // a lock was left held, or its item went backwards
	RuleRecovery = "recovery" // a dead holder's lock stayed stuck past its lease, the tolerance and one wait step
	RuleForced   = "forced"   // a lease was handed out from an item that says it is released or force-released
	RuleRelease  = "release"  // a release was reported wrongly: a force-released lease as released, or a release that went through as lost
	RuleLease    = "lease"    // a holder's context outlived its lease, a lease outlived what its holder may hold, or a request came after its call returned
	RuleTakeover = "takeover" // a lease was taken over before its deadline, though nobody released it (clocks further apart than the tolerance)
	RuleBatch    = "batch"    // an SQS batch outlived its deadline, broke a FIFO group's order, or failed a record with invalid input
)

// Violation is one broken rule.
type Violation struct {
	Rule   string
	Detail string
}

// String returns the rule and the detail.
func (v Violation) String() string { return v.Rule + ": " + v.Detail }

// Check checks h and returns the report.
func Check(h *history.History) *Report {
	r := newReport(h)
	for _, p := range h.Problems {
		r.violate(RuleHistory, "%s", p)
	}
	byLock := map[string][]*history.Section{}
	for _, s := range h.Sections {
		byLock[s.Lock] = append(byLock[s.Lock], s)
	}
	for _, secs := range byLock {
		sort.SliceStable(secs, func(i, j int) bool { return secs[i].Enter.Before(secs[j].Enter) })
	}
	for _, id := range h.Run.LockIDs {
		r.exclusion(id, byLock[id])
		r.ledger(h, id, byLock[id], h.Final.Ledgers[id])
		r.final(h, id, byLock[id])
	}
	for id := range byLock {
		if !contains(h.Run.LockIDs, id) {
			r.violate(RuleHistory, "sections on lock %q, which the run does not contend for", id)
		}
	}
	r.recovery(h)
	r.leases(h)
	r.batches(h)
	return r
}

// enteredForced reports whether s's lease had been force-released, as far
// as the history tells, before its holder entered: the holder has no
// exclusive time at all. (If the answer that handed the lease out said so,
// RuleForced reports it; otherwise the force came just after the acquire
// went through, while its answer was on its way.)
func enteredForced(s *history.Section) bool {
	return s.Forced != nil && !s.Forced.Start.After(s.Enter)
}

// exclusion checks one lock's sections, sorted by entry: none starts
// while an earlier holder is still in its exclusive time, and their tokens
// strictly increase. Void sections, whose holder found its lease already
// past its deadline and did nothing, and sections whose lease was
// force-released before they began, take no part.
func (r *Report) exclusion(id string, secs []*history.Section) {
	tokens := map[int64]*history.Section{}
	var last, prev *history.Section // last: latest exclusive end so far; prev: previous by entry
	for _, s := range secs {
		if o := tokens[s.Token]; o != nil && o.Lease != s.Lease {
			r.violate(RuleTokens, "lock %q: leases %s (worker %d) and %s (worker %d) share token %d", id, o.Lease, o.Worker, s.Lease, s.Worker, s.Token)
		}
		tokens[s.Token] = s
		if s.Void || enteredForced(s) {
			continue
		}
		if prev != nil && s.Token <= prev.Token {
			r.TokenRegressions++
			r.violate(RuleTokens, "lock %q: token %d (worker %d, entered %s) after token %d (worker %d, entered %s)",
				id, s.Token, s.Worker, clock(s.Enter), prev.Token, prev.Worker, clock(prev.Enter))
		}
		if last != nil {
			if end := ExclusiveEnd(last); !s.Enter.After(end) {
				r.Overlaps++
				r.violate(RuleOverlap, "lock %q: worker %d (token %d, %s) entered at %s, %s before worker %d (token %d, %s, entered %s, stopped at %s by %s) was out of its exclusive time (%s)",
					id, s.Worker, s.Token, s.Path, clock(s.Enter), end.Sub(s.Enter), last.Worker, last.Token, last.Path, clock(last.Enter), clock(last.End), last.EndBy, endReason(last))
			} else if s.Enter.Before(last.End) && last.Forced == nil {
				r.OverrunsIntoNext++
			}
			r.handover(last, s)
		}
		if s.EndBy != "pause" && (!s.Heartbeat || s.EndBy == "exit") && s.Forced == nil {
			r.Overrun = max(r.Overrun, s.End.Sub(ExclusiveEnd(s)))
		}
		if last == nil || ExclusiveEnd(s).After(ExclusiveEnd(last)) {
			last = s
		}
		prev = s
	}
}

// ExclusiveEnd is when s's holder stopped being the lock's only holder, as
// the lock promises it: when it left its section, or its context ended
// (the deadline fn's context had at entry, or its cancellation), or, with
// a heartbeat, the lease's last deadline passed, or an operator's
// force-release of its lease may have landed: whichever came first. A
// holder that paused, or asked to be killed, has not left its section: it
// may act again as long as its context runs, until it returns or dies
// (Gone), so its exclusive time runs on to its context's end as if it
// were working. A holder that overruns its context's end (stalled by the
// machine, as by a long GC pause) is past what the lock can promise, and
// what it sends then is the fence's to refuse (see ledger). The lease's
// own Deadline() does not bound it when the holder shortened the lease by
// Extend: the lock must then end the context too, or refuse to shorten.
func ExclusiveEnd(s *history.Section) time.Time {
	e := s.End
	if (s.EndBy == "pause" || s.EndBy == "killme") && s.Gone.After(e) {
		e = s.Gone
	}
	if !s.CtxDeadline.IsZero() && s.CtxDeadline.Before(e) {
		e = s.CtxDeadline
	}
	if !s.CtxDone.IsZero() && s.CtxDone.Before(e) {
		e = s.CtxDone
	}
	if s.Heartbeat && s.EndBy == "exit" && !s.Shortened() && s.Deadline.Before(e) {
		e = s.Deadline
	}
	if s.Forced != nil && s.Forced.Start.Before(e) {
		e = s.Forced.Start
	}
	return e
}

// endReason says what ended s's exclusive time.
func endReason(s *history.Section) string {
	switch e := ExclusiveEnd(s); {
	case s.Forced != nil && e.Equal(s.Forced.Start):
		return "force-released from " + clock(e)
	case e.Equal(s.End):
		return "left at " + clock(e)
	case e.Equal(s.Gone) && s.EndBy == "pause":
		return "paused from " + clock(s.End) + ", returned at " + clock(e)
	case e.Equal(s.Gone):
		return "stopped from " + clock(s.End) + ", gone at " + clock(e)
	case e.Equal(s.CtxDone):
		return "context ended at " + clock(e)
	case e.Equal(s.CtxDeadline):
		return "context deadline " + clock(e)
	default:
		return "lease deadline " + clock(e)
	}
}

// handover records the gap between a holder and the next one: after a
// release, or after a lease that lapsed because its holder died, asked to
// be killed or paused mid-section (sections that ended otherwise may have
// been released or not, as far as the history tells).
func (r *Report) handover(from, to *history.Section) {
	switch {
	case from.Forced != nil:
	case from.Release == history.ResultReleased && from.EndBy == "exit":
		// From the end of its exclusive time: a holder that overran its
		// context (stalled) may still be inside.
		r.MinGapReleased = minSet(r.MinGapReleased, to.Enter.Sub(ExclusiveEnd(from)))
	case from.EndBy != "exit" && !from.Heartbeat && from.Path != history.PathSQS:
		// The next holder must come the tolerance (less the skew between
		// the two clocks) after the deadline.
		r.MinGapLapsed = minSet(r.MinGapLapsed, to.Enter.Sub(from.Deadline))
	}
}

// final checks a lock's item at the end: no lease left held, and a token
// at least as new as every lease granted.
func (r *Report) final(h *history.History, id string, secs []*history.Section) {
	ls, ok := h.Final.Locks[id]
	var newest int64
	for _, s := range secs {
		newest = max(newest, s.Token)
	}
	for _, g := range h.Grants {
		if g.Lock == id {
			newest = max(newest, g.Token)
		}
	}
	if !ok || !ls.Exists {
		if newest > 0 {
			r.violate(RuleFinal, "lock %q: item missing at the end, after leases up to token %d", id, newest)
		}
		return
	}
	if ls.Token < newest {
		r.violate(RuleFinal, "lock %q: item's token %d is older than granted token %d", id, ls.Token, newest)
	}
	// Free for every worker once the machine's clock is past the stored
	// end plus the tolerance plus the fastest clock's offset.
	free := ls.ExpiresAt.Add(h.Run.Tolerance + r.ClockSpread)
	if !ls.Released && !h.Final.At.After(free) {
		r.violate(RuleFinal, "lock %q: left held by lease %s (token %d) until %s, after every worker stopped", id, ls.LeaseID, ls.Token, clock(ls.ExpiresAt))
	}
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// minSet returns the smaller of cur and d, taking a zero cur as unset.
func minSet(cur, d time.Duration) time.Duration {
	if cur == 0 || d < cur {
		return d
	}
	return cur
}

// clock formats t as a time of day with microseconds.
func clock(t time.Time) string { return t.Format("15:04:05.000000") }

func (r *Report) violate(rule, format string, args ...any) {
	r.Violations = append(r.Violations, Violation{Rule: rule, Detail: fmt.Sprintf(format, args...)})
}
