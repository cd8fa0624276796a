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

func TestCheckBugClasses(t *testing.T) {
	tests := []struct {
		name string
		// bug makes cleanHistory the history of the bug; fixed (if set) the
		// history of the same faults with the fix, which must be clean.
		bug, fixed   func(h *history.History)
		rule, detail string
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
			name: "lost within the lease",
			bug: func(h *history.History) {
				s := h.Sections[1]
				s.Release, s.Done = history.ResultLost, at(205)
			},
			rule: check.RuleRelease, detail: "before the lease's deadline",
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
