package once_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/chaos/once"
	"github.com/dynalock/dynalock/internal/dynamotest"
)

var srv *dynamotest.Server

// TestMain is also the worker processes' entry point: the driver starts
// this test binary again with the worker's settings in its environment.
func TestMain(m *testing.M) {
	if os.Getenv(once.EnvWorker) != "" {
		os.Exit(once.WorkerMain())
	}
	dynamotest.Main(m, &srv)
}

// run runs cfg against the package's DynamoDB Local and logs the report.
// The history is kept (its path logged) when the test fails.
func run(t *testing.T, cfg once.Config) (*once.Report, *once.History) {
	t.Helper()
	cfg.Endpoint = srv.Endpoint
	cfg.Command = func() *exec.Cmd { return exec.Command(os.Args[0], "-test.run=^$") }
	cfg.Log = logWriter{t}
	f, err := os.CreateTemp("", "dynalock-once-test-*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	cfg.History = f.Name()
	f.Close()
	os.Remove(cfg.History)
	t.Cleanup(func() {
		if !t.Failed() {
			os.Remove(cfg.History)
		}
	})
	r, err := once.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	r.Print(&out, 50)
	t.Log("\n" + out.String())
	h, err := once.Load(cfg.History)
	if err != nil {
		t.Fatal(err)
	}
	return r, h
}

// TestShortRun runs the short proof (make chaos runs the long one) and
// fails on any violation, or if it did not exercise every way of
// delivering a duplicate (concurrent, after the first, after a lost
// answer, after a SIGKILL before and after the write), every fault, every
// delivery path, keys with odd bytes and NUL pairs, completions whose
// answers were lost followed by releases, and extends of the middleware's
// leases. Its failure message names the violations of known causes.
func TestShortRun(t *testing.T) {
	r, h := run(t, once.Short())
	if !r.OK() {
		t.Errorf("%d violations: %s", len(r.Violations), classify(r, h))
	}
	for what, n := range map[string]int{
		"concurrent copies": r.CopiesByKind["concurrent"], "copies after a lost answer": r.CopiesByKind["lost answer"],
		"copies after the first": r.CopiesByKind["after"], "kills before the write": r.KilledBefore, "kills after the write": r.KilledAfter,
		"duplicates answered from the store": r.Answered, "redeliveries after a failure": r.Failed,
		"dropped responses": r.Faults["drop-response"], "resets": r.Faults["reset-before-send"], "server errors": r.Faults["server-error"],
		"throttles": r.Faults["throttle"], "late landings": r.Faults["land-late"],
		"events through Wrap": r.EventsByPath[once.PathWrap], "events through WrapSQS": r.EventsByPath[once.PathSQS],
		"events through WrapHTTP": r.EventsByPath[once.PathHTTP], "events through WrapKinesis": r.EventsByPath[once.PathKinesis],
		"events through WrapDynamoDBStream":   r.EventsByPath[once.PathDynamoDBStream],
		"events with odd bytes in their keys": r.OddKeyEvents, "NUL pairs": r.NULPairs,
		"completions that lost every answer": r.LostCompletions, "releases after a lost completion": r.ReleasesAfterLost,
		"events answered from the store after a lost completion": r.AnsweredAfterLost, "extends": r.Extends,
	} {
		if n == 0 {
			t.Errorf("the run had no %s", what)
		}
	}
}

// classify names the known causes of violations: a claim collision of
// the NUL pairs (v0.0's ClaimID joined keys with NUL; admin.ClaimID
// prefixes each with its length) and extends past a lease's fixed end.
func classify(r *once.Report, h *once.History) string {
	pairs, accounts := map[string]bool{}, map[string]bool{}
	for _, l := range h.Lines {
		if l.Kind == once.LineEvent && l.Pair != "" {
			pairs[l.Event], accounts[strconv.Quote(l.Account)] = true, true
		}
	}
	known := map[string]int{}
	var others []string
	for _, v := range r.Violations {
		switch {
		case pairs[v.Event]:
			known["the NUL-key claim collision ("+v.Rule+" on a NUL pair's event)"]++
		case v.Rule == once.RuleBalance && slices.ContainsFunc(slices.Collect(maps.Keys(accounts)), func(a string) bool { return strings.Contains(v.Detail, "account "+a+":") }):
			known["the NUL-key claim collision (balance of a NUL pair's account)"]++
		case v.Rule == once.RuleLeaseEnd:
			known["an Extend moving a fixed-end lease past the deadline plus the grace"]++
		default:
			others = append(others, v.String())
		}
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(known)) {
		fmt.Fprintf(&b, "%d from %s; ", known[k], k)
	}
	fmt.Fprintf(&b, "%d others", len(others))
	for _, o := range others {
		b.WriteString("\n  " + o)
	}
	return b.String()
}

// TestUnsafeClaims: a short run that breaks a condition the proof relies
// on fails, by the rule that condition guards. Only the flag is to blame:
// no odd keys, NUL pairs or extends.
func TestUnsafeClaims(t *testing.T) {
	for _, tc := range []struct{ mode, rule string }{
		{once.UnsafeReacquire, once.RuleAtMostOnce},
		{once.UnsafeShared, once.RuleSharedClaim},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cfg := once.Short()
			cfg.Events, cfg.Duration, cfg.Workers, cfg.KillRate = 40, 5*time.Second, 3, 0
			cfg.OddKeys, cfg.NULPairs, cfg.ExtendRate, cfg.Unsafe = false, false, 0, tc.mode
			r, _ := run(t, cfg)
			if r.OK() || r.ByRule[tc.rule] == 0 {
				t.Errorf("-unsafe-claims %s: want %s violations, got %v", tc.mode, tc.rule, r.ByRule)
			}
		})
	}
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
