package driver_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/chaos/driver"
	"github.com/dynalock/dynalock/internal/chaos/worker"
	"github.com/dynalock/dynalock/internal/dynamotest"
)

var srv *dynamotest.Server

// TestMain is also the worker processes' entry point: the driver starts
// this test binary again with the worker's settings in its environment.
func TestMain(m *testing.M) {
	if os.Getenv(worker.EnvConfig) != "" {
		os.Exit(worker.Main())
	}
	dynamotest.Main(m, &srv)
}

// TestShortRun runs a short chaos history (make chaos runs a long one)
// and fails on any violation, or if the run did not exercise every path
// of the fault model: crashes, faults, contention, operators'
// force-releases, holders' own shorter and longer extends, requests
// landing after their caller gave up, Do and Acquire-then-Release over
// overlapping sets, and SQS batches through the middleware with repeated
// keys and FIFO groups.
func TestShortRun(t *testing.T) {
	cfg := driver.Defaults()
	cfg.Duration = 35 * time.Second
	cfg.Workers = 6
	// Wider margins than the long run's, for a busy machine: a lapsed
	// lease's successor comes at least 2 × 150 - 100 ms after its deadline.
	cfg.Tolerance, cfg.Skew = 150*time.Millisecond, 100*time.Millisecond
	// make test compiles and runs other packages meanwhile, and a fresh
	// DynamoDB Local is still compiling its hot paths: a waiter's attempt
	// can stall for most of a second (seen on a fresh CI machine, 920 ms).
	// The recovery check keeps its shape with that allowance; make chaos
	// keeps the tight default.
	cfg.SchedulingSlack = 1500 * time.Millisecond
	// Every path often enough to be seen in 35 s.
	cfg.ExtendRate, cfg.LateRate = 0.3, 0.1
	cfg.SQSTimeoutMin, cfg.SQSTimeoutMax = 3*cfg.Tolerance, 1200*time.Millisecond
	cfg.Dir = t.TempDir()
	cfg.Endpoint = srv.Endpoint
	cfg.Command = func() *exec.Cmd { return exec.Command(os.Args[0], "-test.run=^$") }
	cfg.Log = logWriter{t}
	report, err := driver.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	report.Print(&out, 50)
	t.Log("\n" + out.String())
	if !report.OK() {
		t.Fatalf("%d violations; history kept in %s", len(report.Violations), keep(t, cfg.Dir))
	}
	exercised := map[string]int{
		"critical sections":                report.Sections,
		"SIGKILLs":                         report.Kills["random"] + report.Kills["requested"],
		"holders killed holding":           report.CrashedHolding,
		"faults injected":                  report.Faults["drop-response"] + report.Faults["throttle"],
		"acquires refused as held":         report.LockOps["acquire/refused"],
		"force-releases that went through": report.ForcesLanded,
		"force-released sections":          report.ForcedSections,
		"shorter extends":                  report.Extends["shorter/ok"] + report.Extends["shorter/error"] + report.Extends["shorter/invalid"] + report.Extends["shorter/lost"],
		"longer extends":                   report.Extends["longer/ok"],
		"acquires landing late":            report.LateLanded["acquire"],
		"releases landing late":            report.LateLanded["release"],
		"extends landing late":             report.LateLanded["extend"],
		"Lock(ids...).Do sections":         report.Calls["doall/acquired"],
		"Acquire-then-Release sections":    report.Calls["run/acquired"],
		"SQS batches":                      report.SQS.Batches,
		"FIFO batches":                     report.SQS.FIFOBatches,
		"SQS records repeating a key":      report.SQS.RepeatedKeys,
		"SQS records run":                  report.SQS.Ran,
	}
	for what, n := range exercised {
		if n == 0 {
			t.Errorf("the run exercised no %s", what)
		}
	}
}

// keep copies the history out of the test's temporary directory, so a
// failure can be studied.
func keep(t *testing.T, dir string) string {
	dst, err := os.MkdirTemp("", "dynalock-chaos-failed-")
	if err != nil {
		return dir + " (deleted after the test: " + err.Error() + ")"
	}
	if err := os.CopyFS(dst, os.DirFS(dir)); err != nil {
		return dir + " (deleted after the test: " + err.Error() + ")"
	}
	return dst
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
