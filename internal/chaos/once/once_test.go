package once_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

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

// TestShortRun runs the short proof (make chaos runs the long one) and
// fails on any violation, or if it did not exercise every way of
// delivering a duplicate: concurrent, after the first, after a lost
// answer, after a SIGKILL before and after the write, and every fault.
func TestShortRun(t *testing.T) {
	cfg := once.Short()
	cfg.Endpoint = srv.Endpoint
	cfg.Command = func() *exec.Cmd { return exec.Command(os.Args[0], "-test.run=^$") }
	cfg.Log = logWriter{t}
	r, err := once.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	r.Print(&out)
	t.Log("\n" + out.String())
	if !r.OK() {
		t.Fatalf("%d violations", len(r.Violations))
	}
	for what, n := range map[string]int{
		"concurrent copies": r.CopiesByKind["concurrent"], "copies after a lost answer": r.CopiesByKind["lost answer"],
		"copies after the first": r.CopiesByKind["after"], "kills before the write": r.KilledBefore, "kills after the write": r.KilledAfter,
		"duplicates answered from the store": r.Answered, "redeliveries after a failure": r.Failed,
		"dropped responses": r.Faults["drop-response"], "resets": r.Faults["reset-before-send"], "server errors": r.Faults["server-error"],
		"throttles": r.Faults["throttle"], "late landings": r.Faults["land-late"],
	} {
		if n == 0 {
			t.Errorf("the run had no %s", what)
		}
	}
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
