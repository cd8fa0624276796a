package check_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/chaos/check"
	"github.com/dynalock/dynalock/internal/chaos/history"
)

var base = time.Unix(1_800_000_000, 0)

// at is base plus ms milliseconds.
func at(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

// cleanHistory is a correct run on one lock: two workers whose clocks are
// 20 ms either side of the machine's take turns; worker 1 dies holding the
// lock and worker 2, waiting, takes it once the lease is over for it.
func cleanHistory() *history.History {
	w1 := &history.Worker{ID: 1, Offset: 20 * time.Millisecond, Spawned: at(-100), KilledAt: at(1100), KillReason: "random", Ended: at(1101), ExitCode: -1}
	w2 := &history.Worker{ID: 2, Offset: -20 * time.Millisecond, Spawned: at(-100), Ended: at(3000)}
	h := &history.History{
		Run: history.Run{
			LockIDs: []string{"L"}, Tolerance: 100 * time.Millisecond, TTLMin: 300 * time.Millisecond, TTLMax: 500 * time.Millisecond,
			RetryMax: 100 * time.Millisecond, Slack: 200 * time.Millisecond, BatchSlack: 200 * time.Millisecond, Duration: 3 * time.Second,
		},
		Workers:  map[int]*history.Worker{1: w1, 2: w2},
		Requests: map[string]int{}, Faults: map[string]int{}, LockOps: map[string]int{}, LedgerOps: map[string]int{},
	}
	// section adds a section of worker w with token tok, entered at enter
	// ms with a 500 ms TTL, ended at end ms, that wrote with result res.
	section := func(w *history.Worker, tok int64, enter, end int, res string) *history.Section {
		s := &history.Section{
			Worker: w.ID, Path: history.PathDo, Lock: "L", Lease: "lease-" + string(rune('a'+tok-10)), Token: tok,
			Enter: at(enter), Deadline: at(enter + 400), CtxDeadline: at(enter + 400), ExpiresAt: at(enter + 500).Add(w.Offset), TTL: 500 * time.Millisecond,
			End: at(end), EndBy: "exit", Release: history.ResultReleased,
		}
		if res != "" {
			s.Write = &history.Write{Start: at(enter + 1), End: at(enter + 2), Result: res}
		}
		h.Sections = append(h.Sections, s)
		h.Calls = append(h.Calls, &history.Call{Worker: w.ID, Path: history.PathDo, Locks: []string{"L"}, Start: at(enter - 5), End: at(enter), Result: "acquired"})
		h.Grants = append(h.Grants, history.Grant{Worker: w.ID, Lock: "L", Lease: s.Lease, Token: tok, At: at(enter)})
		return s
	}
	section(w1, 10, 0, 100, history.ResultOK)
	section(w2, 11, 110, 200, history.ResultOK)
	section(w1, 12, 300, 350, history.ResultOK)
	dead := section(w1, 13, 1000, 1100, "")
	dead.EndBy, dead.Release = "kill", ""
	// Worker 2 waits from 1050 ms; the lease (stored end 1520 ms by worker
	// 1's clock) is over for it at 1500 + 100 + 40 + 2 = 1642 ms.
	section(w2, 14, 1650, 1700, history.ResultOK)
	h.Calls[len(h.Calls)-1].Start = at(1050)
	h.Final = history.Final{
		At:      at(5000),
		Locks:   map[string]history.LockState{"L": {Exists: true, LeaseID: "lease-e", Token: 14, ExpiresAt: at(2150), Released: true}},
		Ledgers: map[string]history.LedgerState{"L": {Writes: 4, LastToken: 14, Log: []int64{10, 11, 12, 14}}},
	}
	return h
}

func TestCheckCleanHistory(t *testing.T) {
	r := check.Check(cleanHistory())
	if !r.OK() {
		t.Fatalf("violations in a correct history: %v", r.Violations)
	}
	if r.CrashedHolding != 1 || r.Recovered != 1 || r.MaxStuck != 550*time.Millisecond {
		t.Errorf("crash figures: %d died holding, %d recovered, stuck %s; want 1, 1, 550ms", r.CrashedHolding, r.Recovered, r.MaxStuck)
	}
	if r.Ledger.Acked != 4 {
		t.Errorf("%d acknowledged writes, want 4", r.Ledger.Acked)
	}
}

// TestCheckFindsViolations feeds the checker broken histories: each must
// be reported under its rule.
func TestCheckFindsViolations(t *testing.T) {
	tests := []struct {
		name   string
		breaks func(h *history.History)
		rule   string
		detail string
	}{
		{"overlap", func(h *history.History) { h.Sections[1].Enter = at(90) }, check.RuleOverlap, "before worker 1"},
		{"overlap with a dead holder", func(h *history.History) { h.Sections[4].Enter = at(1050) }, check.RuleOverlap, "by kill"},
		{"token not increasing", func(h *history.History) { h.Sections[2].Token = 11 }, check.RuleTokens, "share token 11"},
		{"token going back", func(h *history.History) {
			h.Sections[2].Token = 9
			h.Final.Ledgers["L"] = history.LedgerState{Writes: 4, LastToken: 14, Log: []int64{9, 10, 11, 14}}
		}, check.RuleTokens, "token 9"},
		{"lost update", func(h *history.History) {
			l := h.Final.Ledgers["L"]
			l.Writes = 3
			h.Final.Ledgers["L"] = l
		}, check.RuleLedger, "1 updates lost"},
		{"acknowledged write missing", func(h *history.History) {
			h.Final.Ledgers["L"] = history.LedgerState{Writes: 3, LastToken: 14, Log: []int64{10, 12, 14}}
		}, check.RuleLedger, "acknowledged but is not in the ledger"},
		{"stale write let through", func(h *history.History) {
			h.Final.Ledgers["L"] = history.LedgerState{Writes: 4, LastToken: 12, Log: []int64{10, 11, 14, 12}}
		}, check.RuleLedger, "token 12 written after token 14"},
		{"refused for no newer write", func(h *history.History) {
			h.Sections[4].Write.Result = history.ResultRefused
			h.Final.Ledgers["L"] = history.LedgerState{Writes: 3, LastToken: 12, Log: []int64{10, 11, 12}}
		}, check.RuleLedger, "no newer token"},
		{"fenced off during the lease", func(h *history.History) {
			h.Sections[1].Write = &history.Write{Start: at(160), End: at(170), Result: history.ResultRefused}
			h.Sections[2].Enter = at(150)
			h.Sections[2].Write.Start, h.Sections[2].Write.End = at(151), at(152)
			h.Final.Ledgers["L"] = history.LedgerState{Writes: 3, LastToken: 14, Log: []int64{10, 12, 14}}
		}, check.RuleOverlap, "before its own exclusive time ended"},
		{"write with no holder", func(h *history.History) {
			h.Final.Ledgers["L"] = history.LedgerState{Writes: 4, LastToken: 15, Log: []int64{10, 11, 12, 14, 15}}
		}, check.RuleLedger, "belongs to no holder"},
		{"left held", func(h *history.History) {
			h.Final.Locks["L"] = history.LockState{Exists: true, LeaseID: "lease-e", Token: 14, ExpiresAt: at(9000)}
		}, check.RuleFinal, "left held"},
		{"item token went back", func(h *history.History) {
			h.Final.Locks["L"] = history.LockState{Exists: true, LeaseID: "lease-e", Token: 13, ExpiresAt: at(2150), Released: true}
		}, check.RuleFinal, "older than granted token 14"},
		{"stuck after death", func(h *history.History) {
			h.Sections[4].Enter, h.Sections[4].End = at(2000), at(2050)
			h.Calls[4].End = at(2000)
			h.Grants[4].At = at(2000)
		}, check.RuleRecovery, "died holding it"},
		{"bad record", func(h *history.History) { h.Problems = append(h.Problems, "worker-001.jsonl line 3: bad") }, check.RuleHistory, "line 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := cleanHistory()
			tt.breaks(h)
			r := check.Check(h)
			for _, v := range r.Violations {
				if v.Rule == tt.rule && strings.Contains(v.Detail, tt.detail) {
					return
				}
			}
			t.Errorf("no %s violation mentioning %q; got %v", tt.rule, tt.detail, r.Violations)
		})
	}
}

// TestReportPrint: the figures name every rule's outcome, and the
// violations follow.
func TestReportPrint(t *testing.T) {
	h := cleanHistory()
	h.Sections[1].Enter = at(90)
	var out strings.Builder
	check.Check(h).Print(&out, 10)
	for _, want := range []string{"critical sections:", "faults injected:", "crashes:", "stuck after death:", "violations:            1", "overlap: lock"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestCheckOverrun: a holder that stalls past its deadline, while the
// lock rightly moves on, is counted, not taken for an overlap; a holder
// inside its lease is.
func TestCheckOverrun(t *testing.T) {
	h := cleanHistory()
	// Worker 2's lease ends at 250 ms; worker 1 comes in at 300 ms, while
	// worker 2 is still in its section until 320 ms.
	h.Sections[1].Deadline, h.Sections[1].CtxDeadline, h.Sections[1].End = at(250), at(250), at(320)
	h.Sections[1].Release = history.ResultLost
	r := check.Check(h)
	if !r.OK() || r.OverrunsIntoNext != 1 || r.Overrun != 70*time.Millisecond {
		t.Errorf("overrun: violations %v, %d overruns into the next, longest %s; want none, 1, 70ms", r.Violations, r.OverrunsIntoNext, r.Overrun)
	}
	h.Sections[1].Deadline = at(600) // a heartbeat moved it: now worker 1 came in too early
	h.Sections[1].Heartbeat, h.Sections[1].CtxDeadline = true, time.Time{}
	if r := check.Check(h); r.OK() {
		t.Error("no violation for a holder entering within the previous one's extended lease")
	}
}
