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
		sort.Slice(secs, func(i, j int) bool { return secs[i].Enter.Before(secs[j].Enter) })
	}
	for _, id := range h.Run.LockIDs {
		r.exclusion(id, byLock[id])
		r.ledger(id, byLock[id], h.Final.Ledgers[id])
		r.final(h, id, byLock[id])
	}
	for id := range byLock {
		if !contains(h.Run.LockIDs, id) {
			r.violate(RuleHistory, "sections on lock %q, which the run does not contend for", id)
		}
	}
	r.recovery(h)
	return r
}

// exclusion checks one lock's sections, sorted by entry: none starts
// while an earlier holder is still inside its section within its lease,
// and their tokens strictly increase. A holder's exclusive time ends when
// it leaves its section or its lease's deadline passes, whichever is
// first: a holder that overruns its deadline (stalled by the machine, as
// by a long GC pause) is past what the lock can promise, and what it
// sends then is the fence's to refuse (see ledger). Void sections, whose
// holder found its lease already past its deadline and did nothing, take
// no part.
func (r *Report) exclusion(id string, secs []*history.Section) {
	tokens := map[int64]*history.Section{}
	var last, prev *history.Section // last: latest exclusive end so far; prev: previous by entry
	for _, s := range secs {
		if o := tokens[s.Token]; o != nil {
			r.violate(RuleTokens, "lock %q: leases %s (worker %d) and %s (worker %d) share token %d", id, o.Lease, o.Worker, s.Lease, s.Worker, s.Token)
		}
		tokens[s.Token] = s
		if s.Void {
			continue
		}
		if prev != nil && s.Token <= prev.Token {
			r.violate(RuleTokens, "lock %q: token %d (worker %d, entered %s) after token %d (worker %d, entered %s)",
				id, s.Token, s.Worker, clock(s.Enter), prev.Token, prev.Worker, clock(prev.Enter))
		}
		if last != nil {
			if end := exclusiveEnd(last); !s.Enter.After(end) {
				r.violate(RuleOverlap, "lock %q: worker %d (token %d) entered at %s, %s before worker %d (token %d, entered %s) left its section (at %s, by %s) or reached its deadline (%s)",
					id, s.Worker, s.Token, clock(s.Enter), end.Sub(s.Enter), last.Worker, last.Token, clock(last.Enter), clock(last.End), last.EndBy, clock(last.Deadline))
			} else if s.Enter.Before(last.End) {
				r.OverrunsIntoNext++
			}
			r.handover(last, s)
		}
		if s.EndBy != "pause" && (!s.Heartbeat || s.EndBy == "exit") {
			r.Overrun = max(r.Overrun, s.End.Sub(s.Deadline))
		}
		if last == nil || exclusiveEnd(s).After(exclusiveEnd(last)) {
			last = s
		}
		prev = s
	}
}

// exclusiveEnd is when s's holder stopped being the lock's only holder:
// when it left its section or its deadline passed, whichever came first.
// A heartbeat holder that died has no known final deadline.
func exclusiveEnd(s *history.Section) time.Time {
	if s.Heartbeat && s.EndBy != "exit" || s.End.Before(s.Deadline) {
		return s.End
	}
	return s.Deadline
}

// handover records the gap between a holder and the next one: after a
// release, or after a lease that lapsed because its holder died, asked to
// be killed or paused mid-section (sections that ended otherwise may have
// been released or not, as far as the history tells).
func (r *Report) handover(from, to *history.Section) {
	switch {
	case from.Release == history.ResultReleased && from.EndBy == "exit":
		r.MinGapReleased = minSet(r.MinGapReleased, to.Enter.Sub(from.End))
	case from.EndBy != "exit" && !from.Heartbeat:
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
