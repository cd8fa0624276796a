package check

import (
	"strconv"
	"time"

	"github.com/dynalock/dynalock/internal/chaos/history"
)

// requestSlack is how late, after its call returned, a lock request may be
// recorded: the HTTP layer records it before sending, inside the call.
const requestSlack = time.Millisecond

// leases checks what each lease's holder was told against what the items
// say happened to it:
//   - no acquire went through with an answer saying its own lease was
//     already released or force-released (a retried acquire that matched
//     its own lease after an operator, or its clean-up, released it): the
//     lease must not be handed out, and never a section run under it;
//   - no force-released lease's release was reported successful;
//   - no release that went through (the item names the lease released by
//     its holder) was reported lost;
//   - no release was refused while the item still held its own lease,
//     not released (its holder could not free the lock);
//   - no holder's context outlived its lease after it shortened it by
//     Extend;
//   - no lease taken by the middleware was asked to outlast the
//     invocation's deadline plus the grace (by a heartbeat, say);
//   - no request for a lease was sent after the call that held it
//     returned (nothing runs after Do, DoAll, Run or the handler returns).
func (r *Report) leases(h *history.History) {
	batches := map[[2]int]*history.Batch{}
	for _, b := range h.Batches {
		batches[[2]int{b.Worker, b.ID}] = b
	}
	entered := map[string]*history.Section{}
	for _, s := range h.Sections {
		entered[s.Lease] = s
	}
	for _, g := range h.Grants {
		if !g.Released && !g.Forced {
			continue
		}
		by := "released (by its acquire's clean-up)"
		if g.Forced {
			by = "force-released by an operator"
		}
		what := "the lock client took it (no section ran: the call gave it back)"
		if s := entered[g.Lease]; s != nil {
			what = "worker " + strconv.Itoa(s.Worker) + " entered under it at " + clock(s.Enter) + ": a second holder may enter at once"
		}
		r.violate(RuleForced, "lock %q: an acquire of worker %d went through at %s as lease %s (token %d), and its answer said the lease was already %s; %s",
			g.Lock, g.Worker, clock(g.At), g.Lease, g.Token, by, what)
	}
	for _, g := range h.SelfRefused {
		why := ""
		if g.Forced {
			why = " (the item names the lease ID as force-released: an operator forced an earlier acquisition of it, and a retried acquire took it up again)"
		}
		r.violate(RuleRelease, "lock %q: worker %d's release of lease %s (token %d) was refused at %s although the item still held that lease, not released%s: the lock stays held until the lease ends",
			g.Lock, g.Worker, g.Lease, g.Token, clock(g.At), why)
	}
	for _, s := range h.Sections {
		if s.Forced != nil {
			r.ForcedSections++
			if enteredForced(s) {
				r.EnteredForced++
			}
		}
		if s.Release == history.ResultLost && s.Forced != nil {
			r.LostToForce++
		}
		if g := s.Granted; g != nil && (g.Released || g.Forced) {
			continue // handed out already released (reported above): its release tells nothing
		}
		if s.Forced != nil && s.Release == history.ResultReleased {
			r.ForcedReportedReleased++
			r.violate(RuleRelease, "lock %q: worker %d's release of lease %s (token %d) reported success at %s, but an operator force-released the lease (request from %s)",
				s.Lock, s.Worker, s.Lease, s.Token, clock(s.Done), clock(s.Forced.Start))
		}
		if s.Release == history.ResultLost && s.Forced == nil && (s.ReleasedByHolder || r.lostWithinLease(s)) {
			r.FalseLost++
			why := "the lock's item names the lease as released by its holder"
			if !s.ReleasedByHolder {
				why = "the call returned at " + clock(s.Done) + ", before the lease's deadline " + clock(s.Deadline)
			}
			r.violate(RuleRelease, "lock %q: worker %d's release of lease %s (token %d) was reported lost (ErrLockLost), but it went through: %s; error: %s",
				s.Lock, s.Worker, s.Lease, s.Token, why, s.ReleaseErr)
		}
		r.shortened(s)
		if s.Path == history.PathSQS {
			r.middlewareLease(h, s, batches[[2]int{s.Worker, s.Batch}])
		}
		if !s.Done.IsZero() && s.LastRequest.After(s.Done.Add(requestSlack)) {
			r.violate(RuleLease, "lock %q: worker %d sent a request for lease %s (token %d) at %s, %s after its call returned",
				s.Lock, s.Worker, s.Lease, s.Token, clock(s.LastRequest), s.LastRequest.Sub(s.Done))
		}
	}
}

// lostWithinLease reports whether s's release was reported lost although
// the call returned before the lease's deadline, with nothing that could
// have ended the lease early: no heartbeat, no Extend of its own.
func (r *Report) lostWithinLease(s *history.Section) bool {
	return !s.Heartbeat && len(s.Extends) == 0 && !s.Done.IsZero() && s.Done.Before(s.Deadline)
}

// shortened checks a section whose holder extended its lease to end
// earlier than its context does: the context must end by the new deadline
// (or the extend be refused), or a successor may enter while the holder
// still works within its context.
func (r *Report) shortened(s *history.Section) {
	for _, x := range s.Extends {
		switch {
		case !x.Shorter:
			r.Extends["longer/"+x.Result]++
			continue
		default:
			r.Extends["shorter/"+x.Result]++
		}
		if x.Result != history.ResultOK || x.After.IsZero() || s.CtxDeadline.IsZero() || !x.After.Before(s.CtxDeadline.Add(-time.Millisecond)) {
			continue
		}
		// The lease now ends (less the tolerance) at x.After; did the
		// holder's context go on past it, with the holder still inside?
		limit := x.After.Add(r.Run.BatchSlack / 2)
		ctxEnd := s.CtxDeadline
		if !s.CtxDone.IsZero() && s.CtxDone.Before(ctxEnd) {
			ctxEnd = s.CtxDone
		}
		if ctxEnd.After(limit) && s.End.After(limit) && s.Forced == nil {
			r.ShortenedUnderContext++
			r.violate(RuleLease, "lock %q: worker %d's Extend(%s) at %s moved lease %s's deadline to %s, but its context went on to %s with the holder inside until %s",
				s.Lock, s.Worker, x.TTL, clock(x.Start), s.Lease, clock(x.After), clock(ctxEnd), clock(s.End))
		}
	}
}

// middlewareLease checks the lease of an SQS record: the middleware sizes
// it to the invocation's deadline plus the grace, and nothing may move it
// past that, whatever lock options are passed (a heartbeat's extends may
// renew it up to there, no further). An acquire is allowed the time
// between the middleware's sizing of the lease and the request, and,
// under the Wait policy, one wait slice (the middleware sizes the lease
// once per slice). Extends (a heartbeat's) get no such allowance: they
// must not renew the lease past where it was, or past the deadline plus
// the grace, whichever is later.
func (r *Report) middlewareLease(h *history.History, s *history.Section, b *history.Batch) {
	w := h.Workers[s.Worker]
	if b == nil || w == nil {
		return
	}
	limit := b.Deadline.Add(b.Grace + w.Offset)                           // by the holder's clock, as stored ends are
	acquireLimit := limit.Add(max(25*time.Millisecond, h.Run.BatchSlack)) // scheduling between sizing and sending
	if b.Policy == "wait" {
		acquireLimit = acquireLimit.Add(time.Second) // middleware.DefaultWaitSlice
	}
	if s.ExpiresAt.After(acquireLimit) {
		r.violate(RuleLease, "lock %q: the middleware's lease %s (worker %d, batch %d) was acquired to end at %s, %s after the invocation's deadline plus the grace",
			s.Lock, s.Lease, s.Worker, b.ID, clock(s.ExpiresAt), s.ExpiresAt.Sub(limit))
	}
	if x := s.MaxExtendExp; !x.IsZero() && x.After(limit.Add(5*time.Millisecond)) && x.After(s.ExpiresAt.Add(5*time.Millisecond)) {
		r.MiddlewareOverextended++
		r.violate(RuleLease, "lock %q: the middleware's lease %s (worker %d, batch %d, heartbeat %v) was extended to end at %s, %s after the invocation's deadline plus the grace",
			s.Lock, s.Lease, s.Worker, b.ID, b.Heartbeat, clock(x), x.Sub(limit))
	}
}
