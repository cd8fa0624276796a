package permits

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/dynamotest"
)

// run runs cfg against a DynamoDB Local of its own and checks the history
// it wrote, from the file.
func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	ctx := context.Background()
	srv, err := dynamotest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := Run(ctx, cfg, srv.Endpoint, path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	events, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	r := Check(events)
	t.Log(r)
	return r
}

// TestShortRun: a short run under every fault has no violation, and used
// the permits: N holders inside at once, some holders dead.
func TestShortRun(t *testing.T) {
	cfg := Defaults()
	cfg.Duration = 20 * time.Second
	r := run(t, cfg)
	if len(r.Violations) > 0 {
		t.Errorf("%d violations", len(r.Violations))
	}
	for id, n := range r.MaxInside {
		if n < cfg.Permits {
			t.Errorf("lock %q: at most %d inside at once: the run never filled its %d permits", id, n, cfg.Permits)
		}
	}
	if r.Died == 0 || r.Writes["ok"] == 0 {
		t.Errorf("the run did not exercise deaths (%d) or writes (%v)", r.Died, r.Writes)
	}
}

// TestUnsafeRun: without the acquire's bound on holders, the check finds
// more than N inside.
func TestUnsafeRun(t *testing.T) {
	cfg := Defaults()
	cfg.Duration = 10 * time.Second
	cfg.Unsafe = true
	r := run(t, cfg)
	found := false
	for _, v := range r.Violations {
		found = found || strings.HasPrefix(v, RuleAtMostN)
	}
	if !found {
		t.Errorf("the unsafe run reported no %s violation", RuleAtMostN)
	}
}

// TestRules: each rule fails a history built to break it.
func TestRules(t *testing.T) {
	const ms = int64(time.Millisecond)
	run := Event{Kind: KindRun, Permits: 2}
	enter := func(holder, call int, lease string, token, at, until int64) []Event {
		return []Event{{Kind: KindCall, Call: call, Time: at - ms}, {Kind: KindEnter, Holder: holder, Call: call, Lock: "a", Lease: lease, Token: token, Time: at, Until: until}}
	}
	exit := func(lease string, at int64) Event { return Event{Kind: KindExit, Lock: "a", Lease: lease, Time: at} }
	end := Event{Kind: KindEnd, Counters: map[string]int64{}}
	cat := func(parts ...[]Event) []Event {
		out := []Event{run}
		for _, p := range parts {
			out = append(out, p...)
		}
		return append(out, end)
	}
	for _, tt := range []struct {
		rule string
		h    []Event
	}{
		{"", cat(enter(1, 1, "x", 1, 10*ms, 0), enter(2, 2, "y", 2, 11*ms, 0), []Event{exit("x", 20*ms), exit("y", 21*ms)},
			enter(3, 3, "z", 3, 22*ms, 0), []Event{exit("z", 23*ms)})},
		{RuleAtMostN, cat(enter(1, 1, "x", 1, 10*ms, 0), enter(2, 2, "y", 2, 11*ms, 0), enter(3, 3, "z", 3, 12*ms, 0),
			[]Event{exit("x", 20*ms), exit("y", 21*ms), exit("z", 22*ms)})},
		{RuleAtMostN, cat(enter(1, 1, "x", 1, 10*ms, 0), []Event{{Kind: KindDie, Lock: "a", Lease: "x", Time: 11 * ms, Until: 50 * ms}},
			enter(2, 2, "y", 2, 12*ms, 0), enter(3, 3, "z", 3, 40*ms, 0), []Event{exit("y", 45*ms), exit("z", 46*ms)})},
		{RuleTokenOnce, cat(enter(1, 1, "x", 5, 10*ms, 0), []Event{exit("x", 11*ms)}, enter(2, 2, "y", 5, 12*ms, 0), []Event{exit("y", 13*ms)})},
		{RuleOrder, cat(enter(1, 1, "x", 5, 10*ms, 0), []Event{exit("x", 11*ms)}, enter(2, 2, "y", 4, 20*ms, 0), []Event{exit("y", 21*ms)})},
		{RuleLedger, append(cat(enter(1, 1, "x", 1, 10*ms, 0), []Event{{Kind: KindWrite, Lock: "a", Lease: "x", Result: "ok", Time: 11 * ms}, exit("x", 12*ms)})[:5],
			Event{Kind: KindEnd, Counters: map[string]int64{"a": 0}})},
		{RuleHistory, []Event{run, {Kind: KindEnter, Lock: "a", Lease: "x", Time: 1}}},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			r := Check(tt.h)
			if tt.rule == "" {
				if len(r.Violations) > 0 {
					t.Errorf("a good history: %v", r.Violations)
				}
				return
			}
			for _, v := range r.Violations {
				if strings.HasPrefix(v, tt.rule) {
					return
				}
			}
			t.Errorf("no %s violation in %v", tt.rule, r.Violations)
		})
	}
}
