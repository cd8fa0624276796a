package check_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/chaos/check"
	"github.com/dynalock/dynalock/internal/chaos/history"
)

// The bug classes of issue 11, each as the history a run records when the
// lock or the middleware has the bug: the checker must report each under
// its rule, and must accept the same history as the fixed code records it.

// force adds an operator's force-release of section s's lease, sent from
// ms to ms+2, that went through.
func force(h *history.History, s *history.Section, ms int) *history.Force {
	f := &history.Force{Worker: 3, Lock: s.Lock, Lease: s.Lease, Token: s.Token, Start: at(ms), End: at(ms + 2), Result: history.ResultOK, Landed: true}
	h.Forces = append(h.Forces, f)
	s.Forced = f
	return f
}

// sqsBatch adds an SQS batch of worker 2, with deadline at ms and records
// m0 and m1 of FIFO group g, and makes the last section m1's.
func sqsBatch(h *history.History, deadline int, result string, end int) *history.Batch {
	b := &history.Batch{
		Worker: 2, ID: 1, Start: at(1600), Deadline: at(deadline), FIFO: true, Policy: "fail", Result: result, End: at(end),
		Records:  []history.Record{{ID: "m0", Keys: []string{"L", "L"}, Group: "g"}, {ID: "m1", Keys: []string{"L"}, Group: "g"}},
		Failures: []string{},
	}
	h.Batches = append(h.Batches, b)
	s := h.Sections[4]
	s.Path, s.Batch, s.Msg = history.PathSQS, 1, "m1"
	return b
}

// earlyTakeover makes worker 1 take the lock at 201 ms, after worker 2
// left its section at 200 ms but before its release landed and its lease
// ended (its deadline 510 ms): worker 2's release, at 205 ms, finds lease c
// and reports it lost. It returns worker 2's section.
func earlyTakeover(h *history.History) *history.Section {
	s := h.Sections[1]
	s.Release, s.Done = history.ResultLost, at(205)
	s.ReleaseErr = `lock: release: lock "L" lost: its lease ended and another holder took it over`
	h.Sections[2].Enter, h.Sections[2].End = at(201), at(250)
	h.Sightings = []history.Sighting{{Lock: "L", Lease: "lease-c", Token: 12, At: at(204)}}
	return s
}

// paused makes worker 2 pause at 120 ms, 10 ms into its section, then
// wake, write late (refused: token 12 came first) and return at 1000 ms;
// its context ended at its deadline, 510 ms.
func paused(h *history.History) {
	s := h.Sections[1]
	s.EndBy, s.End, s.Gone, s.Zombie, s.CtxDone = "pause", at(120), at(1000), true, at(511)
	s.Write, s.Late = nil, &history.Write{Start: at(990), End: at(995), Result: history.ResultRefused}
	s.Release, s.Done = history.ResultLost, at(1001)
	h.Final.Ledgers["L"] = history.LedgerState{Writes: 3, LastToken: 14, Log: []int64{10, 12, 14}}
}

// fenced makes worker 2 send its write at 505 ms, inside its context
// (510 ms), and the fence refuse it, answered at ms; worker 2 leaves just
// after.
func fenced(h *history.History, ms int) {
	s := h.Sections[1]
	s.Write = &history.Write{Start: at(505), End: at(ms), Result: history.ResultRefused}
	s.CtxDone, s.End, s.Release = at(511), at(ms+1), history.ResultLost
	h.Final.Ledgers["L"] = history.LedgerState{Writes: 3, LastToken: 14, Log: []int64{10, 12, 14}}
}

func TestCheckBugClasses(t *testing.T) {
	tests := []struct {
		name string
		// bug makes cleanHistory the history of the bug; fixed (if set) the
		// history of the same faults with the fix, which must be clean.
		bug, fixed   func(h *history.History)
		rule, detail string
		// not, if set, is in the detail of no violation of the bug's
		// history: the bug must not be reported for something else.
		not string
	}{
		{
			// Issue 11, bug 2: worker 2's acquire went through, its answer
			// was lost, an operator force-released the lease during the
			// SDK's backoff, and the retry matched its own lease: the
			// answer says force-released, yet worker 2 entered, and worker 1
			// entered at once too.
			name: "overlap after a force-release during a retried acquire",
			bug: func(h *history.History) {
				s := h.Sections[1]
				force(h, s, 105)
				h.Grants[1].Released, h.Grants[1].Forced = true, true
				s.Granted = &h.Grants[1]
				h.Sections[2].Enter = at(150) // the second holder, at once
				h.Calls[2].End = at(150)
			},
			// The fix refuses the retry (no section); the same force just
			// after a grant whose answer came in time is the operator's
			// doing: worker 2's time after it is not exclusive.
			fixed: func(h *history.History) {
				s := h.Sections[1]
				force(h, s, 105)
				s.Granted = &history.Grant{Worker: 2, Lock: "L", Lease: s.Lease, Token: 11, At: at(104)}
				s.Release = history.ResultLost
				h.Sections[2].Enter = at(150)
			},
			rule: check.RuleForced, detail: "already force-released by an operator; worker 2 entered under it",
		},
		{
			// Issue 11, bug 3: worker 2 extends its lease to end 150 ms
			// from 120 ms, less than what is left; the lock moves the
			// stored end but fn's context keeps its deadline (510 ms), and
			// worker 1 enters once the stored end plus the tolerance have
			// passed, while worker 2 is still at work within its context.
			name: "overlap after a shortening Extend",
			bug: func(h *history.History) {
				s := h.Sections[1]
				s.Extends = []*history.Extend{{Start: at(120), End: at(121), TTL: 150 * time.Millisecond, Shorter: true, Result: history.ResultOK, Before: at(510), After: at(170)}}
				s.Deadline, s.End = at(170), at(290)
				h.Sections[2].Enter = at(280)
			},
			// Fixed: the context ends at the new deadline (or the extend is
			// refused, and worker 1 could not have entered).
			fixed: func(h *history.History) {
				s := h.Sections[1]
				s.Extends = []*history.Extend{{Start: at(120), End: at(121), TTL: 150 * time.Millisecond, Shorter: true, Result: history.ResultOK, Before: at(510), After: at(170)}}
				s.Deadline, s.CtxDone, s.End = at(170), at(171), at(172)
				h.Sections[2].Enter = at(280)
			},
			rule: check.RuleOverlap, detail: "worker 1 (token 12, do) entered at 08:00:00.280000",
		},
		{
			name: "a shortening Extend leaves the context running",
			bug: func(h *history.History) {
				s := h.Sections[1]
				s.Extends = []*history.Extend{{Start: at(120), End: at(121), TTL: 150 * time.Millisecond, Shorter: true, Result: history.ResultOK, Before: at(510), After: at(170)}}
				s.Deadline, s.End = at(170), at(450)
				h.Sections[2].Enter, h.Sections[2].End = at(460), at(500)
			},
			rule: check.RuleLease, detail: "moved lease",
		},
		{
			// Issue 11, bug 4: an operator force-released worker 2's lease
			// (and, later, the next holder's); worker 2's release took the
			// second force for the first and reported success.
			name: "force-release reported as success",
			bug: func(h *history.History) {
				force(h, h.Sections[1], 150)
			},
			fixed: func(h *history.History) {
				force(h, h.Sections[1], 150)
				h.Sections[1].Release = history.ResultLost
			},
			rule: check.RuleRelease, detail: "reported success",
		},
		{
			// Issue 11, bug 5: worker 2's release went through (a later
			// item names its lease released by its holder), its answer was
			// lost, the lock changed hands twice, and the retry, after the
			// lease's end, reported it lost.
			name: "false ErrLockLost",
			bug: func(h *history.History) {
				s := h.Sections[1]
				s.Release, s.ReleasedByHolder, s.Done = history.ResultLost, true, at(600)
			},
			fixed: func(h *history.History) {
				s := h.Sections[1]
				s.Release, s.ReleasedByHolder, s.Done = history.ResultReleaseError, true, at(600)
			},
			rule: check.RuleRelease, detail: "reported lost (ErrLockLost), but it went through",
		},
		{
			// Worker 1's clock runs far ahead of worker 2's, beyond the
			// tolerance: it takes the lock at 201 ms, after worker 2 left
			// its section (200 ms) but before its release landed and long
			// before its lease's deadline (510 ms). The release finds lease
			// c in place and reports ErrLockLost, rightly: no item ever
			// named lease b released. The violation is the takeover, not
			// the report (the checker used to call it a false ErrLockLost,
			// "it went through").
			name: "an early takeover is not a false ErrLockLost",
			bug: func(h *history.History) {
				earlyTakeover(h)
			},
			// Clocks within the tolerance: the successor comes after the
			// lease; the holder, stalled past its deadline, finds it lost.
			fixed: func(h *history.History) {
				s := h.Sections[1]
				s.End, s.Release, s.Done = at(690), history.ResultLost, at(700)
				s.ReleaseErr = `lock: release: lock "L" lost: its lease ended and another holder took it over`
				h.Sections[2].Enter, h.Sections[2].End = at(680), at(720)
				h.Sightings = []history.Sighting{{Lock: "L", Lease: "lease-c", Token: 12, At: at(699)}}
			},
			rule: check.RuleTakeover, detail: "taken over before its deadline 08:00:00.510000: its release, returned at 08:00:00.205000, found the lock taken by lease lease-c (token 12",
			not: "went through",
		},
		{
			// The same takeover of a lease that a heartbeat renewed (to 900
			// ms): the checker skipped sections with a heartbeat or extends
			// of their own.
			name: "an early takeover of a lease its heartbeat renewed",
			bug: func(h *history.History) {
				s := earlyTakeover(h)
				s.Heartbeat, s.CtxDeadline, s.Deadline = true, time.Time{}, at(900)
				s.Stored = []history.StoredEnd{
					{Op: history.OpAcquire, Sent: at(105), At: at(110), End: at(590)},
					{Op: history.OpExtend, Sent: at(190), At: at(191), End: at(1000)},
				}
			},
			fixed: func(h *history.History) {
				s := h.Sections[1]
				s.Heartbeat, s.CtxDeadline, s.Deadline = true, time.Time{}, at(900)
				s.Stored = []history.StoredEnd{
					{Op: history.OpAcquire, Sent: at(105), At: at(110), End: at(590)},
					{Op: history.OpExtend, Sent: at(190), At: at(191), End: at(1000)},
				}
				s.Done = at(205)
			},
			rule: check.RuleTakeover, detail: "taken over before its deadline 08:00:00.900000",
		},
		{
			// And of a lease its holder extended itself (to 800 ms).
			name: "an early takeover of a lease its holder extended",
			bug: func(h *history.History) {
				s := earlyTakeover(h)
				s.Extends = []*history.Extend{{Start: at(150), End: at(151), TTL: 400 * time.Millisecond, Result: history.ResultOK, Before: at(510), After: at(800)}}
				s.Deadline = at(800)
				h.Sections[1].Done = at(600) // after the context's deadline, before the lease's
				h.Sightings[0].At = at(599)
			},
			rule: check.RuleTakeover, detail: "taken over before its deadline 08:00:00.800000",
		},
		{
			// An extend under -unsafe-conditions: at 300 ms worker 2 asks
			// for 200 ms, less than is left; the lock stores that end (480
			// ms by worker 2's clock, 500 ms by the machine's: a deadline of
			// 400 ms) and keeps its own Deadline() and fn's context (510
			// ms), which worker 2 works on to the end: the lock is free for
			// others from about 580 ms, but could be from 500 ms with a
			// clock 80 ms ahead. The checker compared Deadline() after the
			// Extend, which never moves earlier, and saw nothing.
			name: "an extend stored an earlier end under a running context",
			bug: func(h *history.History) {
				s := h.Sections[1]
				s.Extends = []*history.Extend{{Start: at(300), End: at(301), TTL: 200 * time.Millisecond, Shorter: true, Result: history.ResultOK, Before: at(510), After: at(510)}}
				s.Stored = []history.StoredEnd{
					{Op: history.OpAcquire, Sent: at(105), At: at(110), End: at(590)},
					{Op: history.OpExtend, Sent: at(300), At: at(301), End: at(480)},
				}
				s.CtxDone, s.End = at(511), at(512)
				h.Sections[2].Enter, h.Sections[2].End = at(680), at(720)
			},
			// The lock refuses to store an earlier end (Extend returns nil:
			// the lease already ends later).
			fixed: func(h *history.History) {
				s := h.Sections[1]
				s.Extends = []*history.Extend{{Start: at(300), End: at(301), TTL: 200 * time.Millisecond, Shorter: true, Result: history.ResultOK, Before: at(510), After: at(510)}}
				s.Stored = []history.StoredEnd{{Op: history.OpAcquire, Sent: at(105), At: at(110), End: at(590)}}
				s.CtxDone, s.End = at(511), at(512)
				h.Sections[2].Enter, h.Sections[2].End = at(680), at(720)
			},
			rule: check.RuleLease, detail: "extend of lease lease-b (token 11), sent at 08:00:00.300000, stored its end as 08:00:00.480000 by its clock: a deadline of 08:00:00.400000, less the tolerance; but its context's deadline was 08:00:00.510000",
		},
		{
			// Under -unsafe-skew: worker 2 pauses at 120 ms, inside its
			// lease (its context runs to 510 ms), and worker 1, whose
			// clock runs far ahead, enters at 300 ms. The paused holder may
			// wake and act at any moment before 510 ms: the checker ended
			// its exclusive time at the pause and saw no overlap.
			name: "a successor entered while a paused holder's lease ran",
			bug: func(h *history.History) {
				paused(h)
				h.Sections[2].Enter = at(300)
			},
			fixed: func(h *history.History) {
				paused(h)
				h.Sections[2].Enter, h.Sections[2].End = at(680), at(720)
			},
			rule: check.RuleOverlap, detail: "worker 1 (token 12, do) entered at 08:00:00.300000, 210ms before worker 2 (token 11, do, entered 08:00:00.110000, stopped at 08:00:00.120000 by pause)",
		},
		{
			// The same with a holder that asked to be killed at 120 ms and
			// died at 1100 ms.
			name: "a successor entered while a holder waiting to be killed held its lease",
			bug: func(h *history.History) {
				s := h.Sections[1]
				s.EndBy, s.End, s.Gone, s.Release, s.Write = "killme", at(120), at(1100), "", nil
				h.Final.Ledgers["L"] = history.LedgerState{Writes: 3, LastToken: 14, Log: []int64{10, 12, 14}}
				h.Sections[2].Enter = at(300)
			},
			rule: check.RuleOverlap, detail: "before worker 2 (token 11, do, entered 08:00:00.110000, stopped at 08:00:00.120000 by killme)",
		},
		{
			// Under -unsafe-skew: worker 2 sends its write at 505 ms, within
			// its context (510 ms); worker 1, its clock far ahead, takes
			// the lock at 520 ms, long before worker 2's lease ends (610
			// ms by the machine's clock), and writes token 12 at 521 ms;
			// worker 2's write, answered at 540 ms, is refused. The checker
			// judged the refusal by the answer's time against the end of
			// the context, and let it pass.
			name: "a write fenced off while its lease was valid",
			bug: func(h *history.History) {
				fenced(h, 540)
				h.Sections[2].Enter, h.Sections[2].End = at(520), at(560)
				h.Sections[2].Write.Start, h.Sections[2].Write.End = at(521), at(522)
			},
			// The successor comes after the lease; the write, held up in
			// the network, is refused after it.
			fixed: func(h *history.History) {
				fenced(h, 700)
				h.Sections[2].Enter, h.Sections[2].End = at(680), at(720)
				h.Sections[2].Write.Start, h.Sections[2].Write.End = at(681), at(682)
			},
			rule: check.RuleLedger, detail: "refused by 08:00:00.540000, while its lease was valid until 08:00:00.610000 (its stored end, by its clock): a false fence refusal; token 12 (worker 1, entered 08:00:00.520000)",
		},
		{
			// A write refused before any newer token was in the ledger: the
			// fence had nothing to refuse it for. The checker only asked
			// whether a newer token was ever written.
			name: "a write refused before any newer token was written",
			bug: func(h *history.History) {
				fenced(h, 515)
				h.Sections[2].Enter, h.Sections[2].End = at(680), at(720)
				h.Sections[2].Write.Start, h.Sections[2].Write.End = at(681), at(682)
			},
			rule: check.RuleLedger, detail: "refused by 08:00:00.515000, but no newer token was in the ledger by then (the first, 12, was sent at 08:00:00.681000): a false fence refusal",
		},
		{
			// Issue 11, bug 1: a record whose key function gives one key
			// twice waits for itself; the batch never returns.
			name: "a batch that outlived its deadline",
			bug:  func(h *history.History) { sqsBatch(h, 2200, history.ResultOverdue, 4200) },
			fixed: func(h *history.History) {
				sqsBatch(h, 2200, history.ResultReturned, 2150)
			},
			rule: check.RuleBatch, detail: "no answer 2s after its deadline",
		},
		{
			name: "a batch that returned late",
			bug:  func(h *history.History) { sqsBatch(h, 2200, history.ResultReturned, 2600) },
			rule: check.RuleBatch, detail: "returned 400ms after its deadline",
		},
		{
			// A batch whose process stalled (its record's context, ended
			// by its deadline, was seen ending 500 ms late) may return as
			// late; one whose middleware waited on is not excused.
			name: "a batch that returned late, its process not stalled",
			bug: func(h *history.History) {
				sqsBatch(h, 2200, history.ResultReturned, 2800)
				s := h.Sections[4]
				s.CtxDeadline, s.CtxDone, s.End = at(1690), at(1695), at(1700)
			},
			fixed: func(h *history.History) {
				sqsBatch(h, 2200, history.ResultReturned, 2800)
				s := h.Sections[4]
				s.CtxDeadline, s.CtxDone, s.End = at(1690), at(2190), at(2191)
			},
			rule: check.RuleBatch, detail: "returned 600ms after its deadline",
		},
		{
			name: "a batch that returned late, its process stalled by the ticker's measure",
			bug:  func(h *history.History) { sqsBatch(h, 2200, history.ResultReturned, 2800) },
			fixed: func(h *history.History) {
				sqsBatch(h, 2200, history.ResultReturned, 2800)
				h.Stalls = map[int][]history.Span{2: {{Start: at(1900), End: at(2450)}}}
			},
			rule: check.RuleBatch, detail: "its process stalled 0s",
		},
		{
			// Issue 11, bug 6: a record left with less time than the
			// tolerance fails with ErrInvalidInput.
			name: "a record failed with invalid input",
			bug: func(h *history.History) {
				b := sqsBatch(h, 2200, history.ResultReturned, 2150)
				b.Failures = []string{"m0"}
				b.Records[0].Group, b.Records[1].Group = "g0", "g1"
				b.Logs = []history.RecLog{{At: at(2100), Msg: "m0", Message: "lock not acquired: record failed", Err: "lock: invalid input: TTL 90ms must be longer than the clock-skew tolerance 100ms", Invalid: true}}
			},
			rule: check.RuleBatch, detail: "failed with invalid input",
		},
		{
			// Issue 11, bug 7: a heartbeat passed by WithLockOptions keeps
			// renewing the middleware's lease past the deadline plus the
			// grace.
			name: "the middleware's lease extended past the deadline plus the grace",
			bug: func(h *history.History) {
				sqsBatch(h, 2200, history.ResultReturned, 2150)
				h.Sections[4].MaxExtendExp = at(2600)
			},
			fixed: func(h *history.History) {
				sqsBatch(h, 2200, history.ResultReturned, 2150)
				h.Sections[4].MaxExtendExp = at(2175) // renewed up to the deadline plus the grace (by its clock)
			},
			rule: check.RuleLease, detail: "extended to end at",
		},
		{
			name: "a FIFO record ran after an earlier one of its group failed",
			bug: func(h *history.History) {
				b := sqsBatch(h, 2200, history.ResultReturned, 2150)
				b.Failures = []string{"m0", "m1"}
			},
			rule: check.RuleBatch, detail: "ran after record m0 of its group failed",
		},
		{
			// Found by the run against the lock with bugs 2-5 fixed
			// (3f0b98d): a retried acquire took up again a lease ID an
			// operator had forced, after a handoff; the item's ForcedLease
			// then refused its holder's release.
			name: "a release refused on its own lease",
			bug: func(h *history.History) {
				s := h.Sections[1]
				s.Release = history.ResultLost
				h.SelfRefused = append(h.SelfRefused, history.Grant{Worker: 2, Lock: "L", Lease: s.Lease, Token: s.Token, At: at(201), Forced: true})
			},
			rule: check.RuleRelease, detail: "took it up again",
		},
		{
			name: "a request after the call returned",
			bug:  func(h *history.History) { h.Sections[0].Done, h.Sections[0].LastRequest = at(101), at(140) },
			rule: check.RuleLease, detail: "after its call returned",
		},
		{
			// A holder whose lease was force-released wrote after the force
			// and cost its successor an increment: the operator's doing,
			// counted but not reported; the same loss without a force is.
			name: "lost update without a force-release",
			bug: func(h *history.History) {
				l := h.Final.Ledgers["L"]
				l.Writes = 3
				h.Final.Ledgers["L"] = l
			},
			fixed: func(h *history.History) {
				l := h.Final.Ledgers["L"]
				l.Writes = 3
				h.Final.Ledgers["L"] = l
				force(h, h.Sections[1], 111)
				h.Sections[1].Release = history.ResultLost
			},
			rule: check.RuleLedger, detail: "1 updates lost (0 of them explained",
		},
		{
			// Holders that were not force-released are still checked when
			// others were.
			name: "overlap beside a force-release",
			bug: func(h *history.History) {
				force(h, h.Sections[0], 50)
				h.Sections[0].Release = history.ResultLost
				h.Sections[2].Enter = at(150) // worker 2 holds it until 200
			},
			rule: check.RuleOverlap, detail: "before worker 2 (token 11",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := cleanHistory()
			tt.bug(h)
			r := check.Check(h)
			found := false
			for _, v := range r.Violations {
				found = found || (v.Rule == tt.rule && strings.Contains(v.Detail, tt.detail))
				if tt.not != "" && strings.Contains(v.Detail, tt.not) {
					t.Errorf("reported as %q: %v", tt.not, v)
				}
			}
			if !found {
				t.Errorf("no %s violation mentioning %q; got %v", tt.rule, tt.detail, r.Violations)
			}
			if tt.fixed == nil {
				return
			}
			h = cleanHistory()
			tt.fixed(h)
			if r := check.Check(h); !r.OK() {
				t.Errorf("the fixed code's history: %v", r.Violations)
			}
		})
	}
}

// TestCheckRecoveryGhost: a dead holder's lock taken over by an acquire
// whose caller gave up before it landed (nobody was handed the lease) is
// not a stuck lock: the refusals show the new lease.
func TestCheckRecoveryGhost(t *testing.T) {
	h := cleanHistory()
	h.Sections[4].Enter, h.Sections[4].End = at(2000), at(2050)
	h.Calls[4].End = at(2000)
	h.Grants[4].At = at(2000)
	h.Sightings = []history.Sighting{{Lock: "L", Lease: "ghost", Token: 15, At: at(1700)}}
	h.Sections[4].Token = 16
	h.Grants[4].Token = 16
	h.Final.Ledgers["L"] = history.LedgerState{Writes: 4, LastToken: 16, Log: []int64{10, 11, 12, 16}}
	h.Final.Locks["L"] = history.LockState{Exists: true, LeaseID: "lease-e", Token: 16, ExpiresAt: at(2150), Released: true}
	if r := check.Check(h); !r.OK() {
		t.Errorf("violations: %v", r.Violations)
	}
}
