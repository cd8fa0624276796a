package check

import (
	"fmt"
	"slices"
	"time"

	"github.com/dynalock/dynalock/internal/chaos/history"
)

// ledger checks one lock's ledger item against the sections' writes:
//   - its log of tokens strictly increases (the fence kept stale writes out);
//   - every token in it is a holder's, and the Writes and Late counters
//     match the sections' and the paused holders' entries (no update lost:
//     an overlap would have lost an increment);
//   - every acknowledged write is in it;
//   - every write the fence refused, and that is not in it, was refused
//     for a newer token that is, written before the refusal's answer came,
//     and not while its writer's exclusive time lasted, nor while its
//     writer's lease was valid (before the lease's stored end, by its
//     holder's clock: no newer holder may enter before, with clocks within
//     the tolerance). Else the refusal was false: the fence refused a
//     holder it owed the write, or a newer holder came in too early.
//
// A holder whose lease an operator force-released may still write (it
// cannot know): its read-modify-write can interleave with its successor's
// and lose one increment. Such losses are counted, not reported, up to one
// per force-released holder's write that ended after the force.
func (r *Report) ledger(h *history.History, id string, secs []*history.Section, st history.LedgerState) {
	log := st.Log
	for i := 1; i < len(log); i++ {
		if log[i] <= log[i-1] {
			r.violate(RuleLedger, "lock %q: token %d written after token %d", id, log[i], log[i-1])
		}
	}
	var newest int64
	if len(log) > 0 {
		newest = slices.Max(log)
		if st.LastToken != log[len(log)-1] {
			r.violate(RuleLedger, "lock %q: LastToken %d is not the last logged token %d", id, st.LastToken, log[len(log)-1])
		}
	}
	byToken := map[int64]*history.Section{}
	for _, s := range secs {
		byToken[s.Token] = s
	}
	inLog := map[int64]bool{}
	var sections, late int64
	for _, t := range log {
		inLog[t] = true
		switch s := byToken[t]; {
		case s == nil:
			r.violate(RuleLedger, "lock %q: token %d in the ledger belongs to no holder's section", id, t)
		case s.Zombie:
			late++
		default:
			sections++
		}
	}
	var excusable int64
	for _, s := range secs {
		if s.Forced != nil && s.Write != nil && inLog[s.Token] && s.Write.End.After(s.Forced.Start) {
			excusable++
		}
	}
	switch lost := sections - st.Writes; {
	case lost < 0 || lost > excusable:
		r.LostUpdates += max(lost-excusable, 0)
		r.violate(RuleLedger, "lock %q: %d section writes in the log but the counter says %d: %d updates lost (%d of them explained by force-released holders' writes)",
			id, sections, st.Writes, lost, min(max(lost, 0), excusable))
	default:
		r.Ledger.LostToForces += lost
	}
	if st.Late != late {
		r.violate(RuleLedger, "lock %q: %d late writes in the log but the counter says %d", id, late, st.Late)
	}
	r.Ledger.Writes += st.Writes
	r.Ledger.Sections += sections
	r.Ledger.Entries += int64(len(log))
	// The earliest each logged token's write may have landed: when it was
	// sent; when its holder entered, if it died before recording its
	// write; any time, if no section holds the token.
	written := map[int64]time.Time{}
	for _, t := range log {
		var at time.Time
		switch s := byToken[t]; {
		case s == nil:
		case s.Zombie && s.Late != nil:
			at = s.Late.Start
		case !s.Zombie && s.Write != nil:
			at = s.Write.Start
		default:
			at = s.Enter
		}
		written[t] = at
	}
	for _, s := range secs {
		if s.Write != nil {
			r.sectionWrite(h, id, s, inLog[s.Token], newest, written, byToken)
		} else if inLog[s.Token] && !s.Zombie {
			r.Ledger.UnknownApplied++ // died after sending it
		}
		if s.Late != nil {
			r.lateWrite(id, s, inLog[s.Token], newest)
		}
	}
}

func (r *Report) sectionWrite(h *history.History, id string, s *history.Section, logged bool, newest int64, written map[int64]time.Time, byToken map[int64]*history.Section) {
	l := &r.Ledger
	switch s.Write.Result {
	case history.ResultOK:
		l.Acked++
		if !logged {
			r.violate(RuleLedger, "lock %q: worker %d's write with token %d was acknowledged but is not in the ledger", id, s.Worker, s.Token)
		}
	case history.ResultRefused:
		if logged {
			l.AckLost++ // it went through, its answer was lost, and the retry met its own write
			return
		}
		l.Refused++
		// The newer token whose write may have landed first.
		var by int64
		var first time.Time
		for t, at := range written {
			if t > s.Token && (by == 0 || at.Before(first)) {
				by, first = t, at
			}
		}
		switch {
		case newest <= s.Token:
			l.FalseFenced++
			r.violate(RuleLedger, "lock %q: worker %d's write with token %d was refused, but no newer token was ever written: a false fence refusal", id, s.Worker, s.Token)
			return
		case first.After(s.Write.End):
			l.FalseFenced++
			r.violate(RuleLedger, "lock %q: worker %d's write with token %d was refused by %s, but no newer token was in the ledger by then (the first, %d, was sent at %s): a false fence refusal",
				id, s.Worker, s.Token, clock(s.Write.End), by, clock(first))
			return
		}
		if end := ExclusiveEnd(s); !s.Write.End.After(end) {
			r.violate(RuleOverlap, "lock %q: worker %d's write with token %d was fenced off by a newer holder at %s, before its own exclusive time ended (%s)",
				id, s.Worker, s.Token, clock(s.Write.End), endReason(s))
			return
		}
		// Refused between from and the answer: was the lease valid
		// throughout?
		from := s.Write.Start
		if first.After(from) {
			from = first
		}
		if valid := leaseValid(h, s, from); s.Write.End.Before(valid) && (s.Forced == nil || s.Forced.Start.After(s.Write.End)) {
			l.FalseFenced++
			who := ""
			if n := byToken[by]; n != nil {
				who = fmt.Sprintf(" (worker %d, entered %s)", n.Worker, clock(n.Enter))
			}
			r.violate(RuleLedger, "lock %q: worker %d's write with token %d was refused by %s, while its lease was valid until %s (its stored end, by its clock): a false fence refusal; token %d%s took the lock over before the lease ended",
				id, s.Worker, s.Token, clock(s.Write.End), clock(valid), by, who)
		}
	case history.ResultError:
		if logged {
			l.UnknownApplied++
		} else {
			l.UnknownLost++
		}
	case history.ResultSkipped:
		l.Skipped++
		if logged {
			r.violate(RuleLedger, "lock %q: worker %d's write with token %d was never sent but is in the ledger", id, s.Worker, s.Token)
		}
	}
}

func (r *Report) lateWrite(id string, s *history.Section, logged bool, newest int64) {
	switch s.Late.Result {
	case history.ResultOK:
		r.Late.Accepted++
		if !logged {
			r.violate(RuleLedger, "lock %q: paused worker %d's late write with token %d was acknowledged but is not in the ledger", id, s.Worker, s.Token)
		}
	case history.ResultRefused:
		if logged {
			r.Late.Accepted++ // went through; the retry met its own write
			return
		}
		r.Late.Refused++
		if newest <= s.Token {
			r.violate(RuleLedger, "lock %q: paused worker %d's late write with token %d was refused, but no newer token was ever written", id, s.Worker, s.Token)
		}
	default:
		r.Late.Unknown++
	}
}

// leaseValid returns, by the machine's clock, the end of s's lease as
// stored at t: the end stored by its acquire (as its answer's item said),
// or by the last of its requests that went through and whose answer came
// before t. No other holder may take the lock before it, whichever their
// clock, as long as clocks are within the tolerance. Zero if unknown.
func leaseValid(h *history.History, s *history.Section, t time.Time) time.Time {
	w := h.Workers[s.Worker]
	if w == nil {
		return time.Time{}
	}
	end := s.ExpiresAt
	for _, x := range s.Stored {
		if x.At.Before(t) {
			end = x.End
		}
	}
	if end.IsZero() {
		return time.Time{}
	}
	return end.Add(-w.Offset)
}
