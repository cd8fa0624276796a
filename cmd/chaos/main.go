// Command chaos runs a long fault-injection history against DynaLock and
// checks it: worker processes contend for a few locks through DynamoDB
// Local with lost responses, resets, server errors, throttling, latency,
// requests landing after their caller gave up, skewed clocks, paused
// holders and SIGKILLs; operators force-release held leases; holders
// extend their leases shorter and longer; calls go through Lock(id).Do,
// Lock(ids...).Do over sets, and Lock(ids...).Acquire then Release, and
// synthetic SQS batches through the middleware. The
// checker proves that no two holders overlapped (a force-released holder's
// time after the force aside), tokens strictly increased, no ledger update
// was lost, no release was misreported, no lease was taken over before
// its deadline or stored to end before its holder's context, no fenced
// write was refused while its lease was valid, no lease was handed out
// released, no batch outlived its deadline and no dead holder's lock
// stayed stuck. It prints the run's figures (the lock operations sent
// among them) and exits 1 on any violation.
//
//	chaos [-duration 3m] [-workers 6] [-locks 3] [-dir DIR] [...]
//
// "chaos check DIR" checks the history a run left in DIR again; "chaos
// worker" is one worker process, which the driver starts.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/dynalock/dynalock/internal/chaos/check"
	"github.com/dynalock/dynalock/internal/chaos/driver"
	"github.com/dynalock/dynalock/internal/chaos/history"
	"github.com/dynalock/dynalock/internal/chaos/worker"
	"github.com/dynalock/dynalock/internal/dynamotest"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		os.Exit(worker.Main())
	}
	if len(os.Args) > 2 && os.Args[1] == "check" {
		os.Exit(recheck(os.Args[2]))
	}
	os.Exit(run())
}

func run() int {
	cfg := driver.Defaults()
	locks := flag.Int("locks", len(cfg.LockIDs), "number of contended lock IDs")
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the workers contend")
	flag.IntVar(&cfg.Workers, "workers", cfg.Workers, "worker processes at a time")
	flag.DurationVar(&cfg.Tolerance, "tolerance", cfg.Tolerance, "clock-skew tolerance of every worker")
	flag.DurationVar(&cfg.Skew, "skew", cfg.Skew, "how far apart the workers' clocks may be (below the tolerance)")
	flag.BoolVar(&cfg.UnsafeSkew, "unsafe-skew", false, "allow -skew beyond the tolerance, breaking the lock's assumption (the check should then fail)")
	flag.BoolVar(&cfg.ObservedOnly, "observed-only", false, "turn the wall-clock takeover rule off, leaving the observed-lease rule alone, and allow -skew beyond the tolerance (the check must still pass); no SQS rounds")
	flag.BoolVar(&cfg.UnsafeConditions, "unsafe-conditions", false, "take out of the lock's requests the conditions that fixed issue 11's bugs 2 and 3 (the check should then fail)")
	flag.DurationVar(&cfg.TTLMin, "ttl-min", cfg.TTLMin, "shortest lease TTL")
	flag.DurationVar(&cfg.TTLMax, "ttl-max", cfg.TTLMax, "longest lease TTL")
	flag.Float64Var(&cfg.FaultRate, "fault-rate", cfg.FaultRate, "highest share of HTTP requests faulted in a worker")
	flag.Float64Var(&cfg.DelayRate, "delay-rate", cfg.DelayRate, "highest share of HTTP requests delayed in a worker")
	flag.DurationVar(&cfg.MaxDelay, "max-delay", cfg.MaxDelay, "longest added latency")
	flag.DurationVar(&cfg.KillEvery, "kill-every", cfg.KillEvery, "mean time between SIGKILLs of random workers (0: none)")
	flag.Float64Var(&cfg.KillRate, "kill-rate", cfg.KillRate, "highest share of sections whose holder is killed mid-section")
	flag.Float64Var(&cfg.PauseRate, "pause-rate", cfg.PauseRate, "highest share of sections whose holder pauses past its lease")
	flag.Float64Var(&cfg.ExtendRate, "extend-rate", cfg.ExtendRate, "highest share of sections whose holder extends its lease itself, shorter or longer")
	flag.Float64Var(&cfg.DoAllRate, "doall-rate", cfg.DoAllRate, "highest share of rounds that call Lock(ids...).Do over overlapping sets of locks")
	flag.Float64Var(&cfg.RunRate, "run-rate", cfg.RunRate, "highest share of rounds that call Lock(ids...).Acquire on a context that may be short, then run and Release")
	flag.Float64Var(&cfg.SQSRate, "sqs-rate", cfg.SQSRate, "highest share of rounds that hand a synthetic SQS batch to middleware.WrapSQS")
	flag.Float64Var(&cfg.LateRate, "late-rate", cfg.LateRate, "highest share of lock requests held back and landed after their caller gave up (httpfault.LandLate)")
	flag.DurationVar(&cfg.LateMax, "late-max", cfg.LateMax, "longest a request is held back before it lands late")
	flag.DurationVar(&cfg.OperatorEvery, "operator-every", cfg.OperatorEvery, "mean time between an operator's force-releases, in the workers that run one (0: no operators)")
	flag.DurationVar(&cfg.SchedulingSlack, "slack", cfg.SchedulingSlack, "scheduling slack the checker allows a waiter taking a dead holder's lock, and a batch returning after its deadline")
	flag.StringVar(&cfg.Shape, "table-shape", "", "lock table's shape: seed (the default), or shared: one table with custom key names, a sort key and a prefix, the ledger's items beside the locks")
	flag.StringVar(&cfg.Dir, "dir", "", "directory for the history, created if need be; it must hold no earlier run (default: a new temporary one, kept)")
	flag.StringVar(&cfg.Endpoint, "endpoint", os.Getenv(dynamotest.EnvEndpoint), "running DynamoDB Local to use (default: start one)")
	flag.Parse()

	cfg.LockIDs = nil
	for i := range *locks {
		cfg.LockIDs = append(cfg.LockIDs, fmt.Sprintf("chaos-%c", 'a'+i))
	}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "dynalock-chaos-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 2
		}
		cfg.Dir = dir
	} else if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	cfg.Command = func() *exec.Cmd { return exec.Command(exe, "worker") }
	cfg.Log = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := driver.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	report.Print(os.Stdout, 20)
	fmt.Println("  history:              ", cfg.Dir)
	if !report.OK() {
		return 1
	}
	return 0
}

// recheck checks the history in dir again.
func recheck(dir string) int {
	h, err := history.Load(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	report := check.Check(h)
	report.Print(os.Stdout, 100)
	if !report.OK() {
		return 1
	}
	return 0
}
