package check

import (
	"sort"
	"time"

	"github.com/dynalock/dynalock/internal/chaos/history"
)

// recovery checks that every lock whose holder was killed while holding
// it became free again: no worker that was waiting for it when the dead
// holder's lease (plus the tolerance, by the waiter's clock) ended kept
// waiting longer than one wait step plus the run's slack without anyone
// acquiring it. It also measures how long each lock stayed stuck after
// its holder died.
func (r *Report) recovery(h *history.History) {
	grants := map[string][]history.Grant{}
	for _, g := range h.Grants {
		grants[g.Lock] = append(grants[g.Lock], g)
	}
	for _, gs := range grants {
		sort.Slice(gs, func(i, j int) bool { return gs[i].At.Before(gs[j].At) })
	}
	calls := map[string][]*history.Call{}
	for _, c := range h.Calls {
		calls[c.Lock] = append(calls[c.Lock], c)
	}
	for _, s := range h.Sections {
		holder := h.Workers[s.Worker]
		if !s.Crashed() || s.Void || holder == nil || !holder.Killed() {
			continue
		}
		died := holder.KilledAt
		// The lease's end by the machine's clock: as stored, less the
		// holder's offset; with a heartbeat, at most a TTL after the
		// holder's last extension, before it died.
		end := s.ExpiresAt.Add(-holder.Offset)
		if s.ExpiresAt.IsZero() {
			end = s.Enter.Add(s.TTL)
		}
		if s.Heartbeat {
			end = died.Add(s.TTL)
		}
		if !died.Before(end) {
			continue // its lease had already lapsed
		}
		r.CrashedHolding++
		next := firstAfter(grants[s.Lock], died)
		// free is when the lease was over for waiter, by the machine's
		// clock: once the waiter's clock is past the stored end plus the
		// tolerance. Stored ends and cutoffs are whole milliseconds.
		free := func(waiter *history.Worker) time.Time {
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

func firstAfter(gs []history.Grant, t time.Time) *history.Grant {
	i := sort.Search(len(gs), func(i int) bool { return gs[i].At.After(t) })
	if i == len(gs) {
		return nil
	}
	return &gs[i]
}
