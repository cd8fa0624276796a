package check

import (
	"sort"
	"time"

	"github.com/dynalock/dynalock/internal/chaos/history"
)

// recovery checks that every lock whose holder was killed while holding
// it became free again: no worker that was waiting for it (alone, on a
// context of the usual length) when the dead holder's lease (plus the
// tolerance, by the waiter's clock) ended kept waiting longer than one
// wait step plus the run's slack without anyone acquiring it. A lock
// taken meanwhile by an acquire nobody was handed (one that landed after
// its caller gave up) counts as acquired: the checker sees it in the
// refusals' items. A dead holder whose lease an operator force-released is
// not checked. It also measures how long each lock stayed stuck after its
// holder died.
func (r *Report) recovery(h *history.History) {
	grants := map[string][]history.Grant{}
	for _, g := range h.Grants {
		grants[g.Lock] = append(grants[g.Lock], g)
	}
	for _, gs := range grants {
		sort.Slice(gs, func(i, j int) bool { return gs[i].At.Before(gs[j].At) })
	}
	sightings := map[string][]history.Sighting{}
	for _, s := range h.Sightings {
		sightings[s.Lock] = append(sightings[s.Lock], s)
	}
	calls := map[string][]*history.Call{}
	for _, c := range h.Calls {
		if len(c.Locks) == 1 && !c.Short && (c.Path == history.PathDo || c.Path == history.PathRun) {
			calls[c.Locks[0]] = append(calls[c.Locks[0]], c)
		}
	}
	for _, s := range h.Sections {
		holder := h.Workers[s.Worker]
		if !s.Crashed() || s.Void || holder == nil || !holder.Killed() || s.Forced != nil {
			continue
		}
		died := holder.KilledAt
		// The lease's end by the machine's clock: the latest end any of
		// the holder's requests asked for (its acquire, its extends and
		// heartbeats, whether or not they went through), less the
		// holder's offset.
		end := s.MaxExp.Add(-holder.Offset)
		if s.MaxExp.IsZero() {
			end = s.Enter.Add(s.TTL)
		}
		if !died.Before(end) {
			continue // its lease had already lapsed
		}
		r.CrashedHolding++
		next := firstAfter(grants[s.Lock], died)
		if g := newerSighting(sightings[s.Lock], died, s.Token); g != nil && (next == nil || g.At.Before(next.At)) {
			next = g
		}
		// free is when the lease was over for waiter, by the machine's
		// clock: once the waiter's clock is past the stored end plus the
		// tolerance. Stored ends and cutoffs are whole milliseconds.
		free := func(waiter *history.Worker) time.Time {
			if h.Run.ObservedOnly {
				// By the observed-lease rule alone: a whole granted
				// duration (at most twice the longest TTL, by a longer
				// Extend) from a look after the last version, which the
				// waiter's next read (a wait step of up to 8/5 of its
				// longest write step) shows.
				return end.Add(2*h.Run.TTLMax + h.Run.RetryMax*8/5 + 2*time.Millisecond)
			}
			return end.Add(h.Run.Tolerance + holder.Offset - waiter.Offset + 2*time.Millisecond)
		}
		for _, c := range calls[s.Lock] {
			waiter := h.Workers[c.Worker]
			if c.Worker == s.Worker || waiter == nil {
				continue
			}
			f := free(waiter)
			limit := f.Add(h.Run.RetryMax + h.Run.Slack)
			if c.Start.After(f) || c.End.Before(limit) {
				continue // not waiting throughout
			}
			if lateBetween(h.LateAcquires[c.Worker], c.Start, limit) {
				continue // one of its attempts was held back in the network
			}
			if next == nil || next.At.After(limit) {
				got := "never"
				if next != nil {
					got = clock(next.At)
				}
				r.violate(RuleRecovery, "lock %q: worker %d died holding it (token %d) at %s; worker %d waited from %s to %s, the lease was over for it at %s, yet the lock was next acquired %s",
					s.Lock, s.Worker, s.Token, clock(died), c.Worker, clock(c.Start), clock(c.End), clock(f), got)
			}
		}
		// The figures: when the next holder had been waiting since before
		// the lease was over for it, how long the lock stayed stuck.
		if next == nil {
			continue
		}
		if c := callAt(calls[s.Lock], next.Worker, next.At); c != nil && h.Workers[next.Worker] != nil {
			if f := free(h.Workers[next.Worker]); !c.Start.After(f) {
				r.Recovered++
				r.MaxStuck = max(r.MaxStuck, next.At.Sub(died))
				r.MaxRecoveryAfterFree = max(r.MaxRecoveryAfterFree, next.At.Sub(f))
			}
		}
	}
}

// callAt returns worker's call during which it was granted the lock at t.
func callAt(calls []*history.Call, worker int, t time.Time) *history.Call {
	for _, c := range calls {
		if c.Worker == worker && !c.Start.After(t) && !c.End.Before(t) {
			return c
		}
	}
	return nil
}

// lateBetween reports whether any of ts is within [from, to].
func lateBetween(ts []time.Time, from, to time.Time) bool {
	for _, t := range ts {
		if !t.Before(from) && !t.After(to) {
			return true
		}
	}
	return false
}

// newerSighting returns, as a grant, the first item seen after t that
// holds a lease with a token newer than tok.
func newerSighting(ss []history.Sighting, t time.Time, tok int64) *history.Grant {
	i := sort.Search(len(ss), func(i int) bool { return ss[i].At.After(t) })
	for ; i < len(ss); i++ {
		if ss[i].Token > tok {
			return &history.Grant{Worker: -1, Lock: ss[i].Lock, Lease: ss[i].Lease, Token: ss[i].Token, At: ss[i].At}
		}
	}
	return nil
}

func firstAfter(gs []history.Grant, t time.Time) *history.Grant {
	i := sort.Search(len(gs), func(i int) bool { return gs[i].At.After(t) })
	if i == len(gs) {
		return nil
	}
	return &gs[i]
}
