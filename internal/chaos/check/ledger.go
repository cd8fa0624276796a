package check

import (
	"slices"

	"github.com/dynalock/dynalock/internal/chaos/history"
)

// ledger checks one lock's ledger item against the sections' writes:
//   - its log of tokens strictly increases (the fence kept stale writes out);
//   - every token in it is a holder's, and the Writes and Late counters
//     match the sections' and the paused holders' entries (no update lost:
//     an overlap would have lost an increment);
//   - every acknowledged write is in it;
//   - every write the fence refused, and that is not in it, was refused
//     for a newer token that is, and not while its writer's exclusive time
//     lasted.
//
// A holder whose lease an operator force-released may still write (it
// cannot know): its read-modify-write can interleave with its successor's
// and lose one increment. Such losses are counted, not reported, up to one
// per force-released holder's write that ended after the force.
func (r *Report) ledger(id string, secs []*history.Section, st history.LedgerState) {
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
	for _, s := range secs {
		if s.Write != nil {
			r.sectionWrite(id, s, inLog[s.Token], newest)
		} else if inLog[s.Token] && !s.Zombie {
			r.Ledger.UnknownApplied++ // died after sending it
		}
		if s.Late != nil {
			r.lateWrite(id, s, inLog[s.Token], newest)
		}
	}
}

func (r *Report) sectionWrite(id string, s *history.Section, logged bool, newest int64) {
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
		if newest <= s.Token {
			r.violate(RuleLedger, "lock %q: worker %d's write with token %d was refused, but no newer token was ever written", id, s.Worker, s.Token)
		}
		if end := ExclusiveEnd(s); !s.Write.End.After(end) {
			r.violate(RuleOverlap, "lock %q: worker %d's write with token %d was fenced off by a newer holder at %s, before its own exclusive time ended (%s)",
				id, s.Worker, s.Token, clock(s.Write.End), endReason(s))
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
