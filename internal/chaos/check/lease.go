package check

import (
	"fmt"
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
//   - no lease was taken over before its deadline (the latest its holder
//     was granted, by extends and heartbeats too) unless released or
//     force-released: a release reported lost before it is an early
//     takeover (clocks further apart than the tolerance);
//   - no release was refused while the item still held its own lease,
//     not released (its holder could not free the lock);
//   - no lease end stored by an acquire or extend of the holder's came
//     earlier (less the tolerance) than its context's deadline, with the
//     holder still inside;
//   - no lease taken by the middleware was asked to outlast the
//     invocation's deadline plus the grace (by a heartbeat, say);
//   - no request for a lease was sent after the call that held it
//     returned (nothing runs after Do, the release after Acquire, or the handler returns).
func (r *Report) leases(h *history.History) {
	batches := map[[2]int]*history.Batch{}
	for _, b := range h.Batches {
		batches[[2]int{b.Worker, b.ID}] = b
	}
	entered := map[history.LeaseKey]*history.Section{}
	byToken := map[string]map[int64]*history.Section{}
	for _, s := range h.Sections {
		entered[history.LeaseKey{Lock: s.Lock, Lease: s.Lease}] = s
		if byToken[s.Lock] == nil {
			byToken[s.Lock] = map[int64]*history.Section{}
		}
		byToken[s.Lock][s.Token] = s
	}
	sightings := map[string][]history.Sighting{}
	for _, g := range h.Sightings {
		sightings[g.Lock] = append(sightings[g.Lock], g)
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
		if s := entered[history.LeaseKey{Lock: g.Lock, Lease: g.Lease}]; s != nil {
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
		switch {
		case s.Release != history.ResultLost || s.Forced != nil:
		case s.ReleasedByHolder:
			r.FalseLost++
			r.violate(RuleRelease, "lock %q: worker %d's release of lease %s (token %d) was reported lost (ErrLockLost), but it went through: the lock's item names the lease as released by its holder; error: %s",
				s.Lock, s.Worker, s.Lease, s.Token, s.ReleaseErr)
		case lostWithinLease(s):
			// No item said the lease was released, and no operator forced
			// it: the lock was taken from under a lease that still ran.
			r.EarlyTakeovers++
			r.violate(RuleTakeover, "lock %q: worker %d's lease %s (token %d) was taken over before its deadline %s: its release, returned at %s, found the lock taken%s, and no item ever named the lease released or force-released; error: %s",
				s.Lock, s.Worker, s.Lease, s.Token, clock(s.Deadline), clock(s.Done), taker(h, s, sightings[s.Lock], byToken[s.Lock]), s.ReleaseErr)
		}
		r.shortened(h, s)
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
// the call returned before the lease's deadline: the latest its holder
// was granted (Deadline() when fn returned, which the holder's own extends
// and its heartbeat's moved on, never back).
func lostWithinLease(s *history.Section) bool {
	return !s.Done.IsZero() && s.Done.Before(s.Deadline)
}

// taker describes who took s's lock over before s's lease ended: the first
// newer token seen in an item after s's holder entered, with its holder
// and how far apart the two clocks were.
func taker(h *history.History, s *history.Section, ss []history.Sighting, byToken map[int64]*history.Section) string {
	g := newerSighting(ss, s.Enter, s.Token)
	if g == nil {
		return ""
	}
	d := fmt.Sprintf(" by lease %s (token %d, seen at %s", g.Lease, g.Token, clock(g.At))
	if t := byToken[g.Token]; t != nil {
		d += fmt.Sprintf(", worker %d entered at %s", t.Worker, clock(t.Enter))
		if a, b := h.Workers[s.Worker], h.Workers[t.Worker]; a != nil && b != nil {
			d += fmt.Sprintf("; its clock %s ahead of the holder's, tolerance %s", b.Offset-a.Offset, h.Run.Tolerance)
		}
	}
	return d + ")"
}

// shortened checks that no lease end stored for s's lease (by its acquire
// or an extend that went through, the heartbeat's too) came earlier, less
// the tolerance, than the deadline the lock gave the holder's context,
// while the holder was still inside and its context running: a successor
// may enter once the stored end plus the tolerance have passed. The lock
// must refuse to store an earlier end, or end the context by it. Without a
// heartbeat, fn's context has one deadline, from the entry, and every end
// stored is judged against it; with one, the context lasts until the
// lease's Deadline(), which only moves later: the last end stored is
// judged against the last deadline. A lock that moves Deadline() earlier
// on Extend, and leaves the context running, is judged too.
func (r *Report) shortened(h *history.History, s *history.Section) {
	for _, x := range s.Extends {
		if x.Shorter {
			r.Extends["shorter/"+x.Result]++
		} else {
			r.Extends["longer/"+x.Result]++
		}
	}
	for i := 1; i < len(s.Stored); i++ {
		if s.Stored[i].End.Before(s.Stored[i-1].End) {
			r.StoredEarlier++
		}
	}
	if s.Void || enteredForced(s) {
		return
	}
	inside := s.End
	if s.Gone.After(inside) {
		inside = s.Gone
	}
	granted := s.CtxDeadline
	stored := s.Stored
	if s.Heartbeat && len(stored) > 0 {
		if granted.IsZero() || s.Deadline.Before(granted) {
			granted = s.Deadline
		}
		// The end stored last: the last answer's, or a later one of a
		// request whose answer came earlier but which may have landed
		// after it (the heartbeat's and the holder's own extends race).
		last := stored[len(stored)-1]
		for _, w := range stored {
			if !w.At.Before(last.Sent) && w.End.After(last.End) {
				last = w
			}
		}
		stored = []history.StoredEnd{last}
	}
	// running reports whether the holder was inside, its context running
	// and its lease not force-released, past dl. A context that ran to its
	// deadline ran past dl if its deadline was later; one cancelled before
	// its deadline (as by a lock that ends it at a lease's new deadline)
	// is allowed the machine's scheduling to end.
	running := func(dl, deadline time.Time) bool {
		ctxRan := deadline.After(dl.Add(time.Millisecond))
		if !s.CtxDone.IsZero() && s.CtxDone.Before(deadline) {
			ctxRan = s.CtxDone.After(dl.Add(r.Run.BatchSlack / 2))
		}
		return ctxRan && inside.After(dl.Add(time.Millisecond)) && (s.Forced == nil || s.Forced.Start.After(dl))
	}
	var offset time.Duration
	if w := h.Workers[s.Worker]; w != nil {
		offset = w.Offset
	}
	for _, w := range stored {
		// The deadline the stored end allows, by the machine's clock.
		dl := w.End.Add(-offset - r.Run.Tolerance)
		if granted.IsZero() || !running(dl, granted) {
			continue
		}
		r.ShortenedUnderContext++
		r.violate(RuleLease, "lock %q: worker %d's %s of lease %s (token %d), sent at %s, stored its end as %s by its clock: a deadline of %s, less the tolerance; but its context's deadline was %s, and the holder stayed inside until %s",
			s.Lock, s.Worker, w.Op, s.Lease, s.Token, clock(w.Sent), clock(w.End), clock(dl), clock(granted), clock(inside))
		return
	}
	for _, x := range s.Extends {
		// A lock that moved Deadline() earlier but not the context's.
		if x.Result != history.ResultOK || x.After.IsZero() || s.CtxDeadline.IsZero() || !running(x.After, s.CtxDeadline) {
			continue
		}
		r.ShortenedUnderContext++
		r.violate(RuleLease, "lock %q: worker %d's Extend(%s) at %s moved lease %s's deadline to %s, but its context's deadline stayed %s, with the holder inside until %s",
			s.Lock, s.Worker, x.TTL, clock(x.Start), s.Lease, clock(x.After), clock(s.CtxDeadline), clock(inside))
		return
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
