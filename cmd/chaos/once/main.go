// Command once runs the fault-injection proof of the middleware's
// idempotency (internal/chaos/once): every event delivered one to five
// times — at once, after the first, after a lost answer, after a SIGKILL
// mid-handler — through the middleware's wrappers with WithIdempotency
// over faulty connections to DynamoDB Local, with odd bytes in the keys,
// completions whose answers are lost, and extends of the middleware's
// leases. It writes the run's history (JSON lines, see
// internal/chaos/once/history.go), judges it from that file, prints the
// figures and exits 1 on any violation.
//
//	once [-events 1500] [-duration 90s] [-workers 6] [-history FILE] [...]
//	once -check FILE
//
// -check judges a recorded history again, without running anything.
// -unsafe-claims MODE breaks a condition the proof relies on, so that the
// check must fail (see -h). The binary is also the worker processes, which
// the driver starts.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dynalock/dynalock/internal/chaos/once"
	"github.com/dynalock/dynalock/internal/dynamotest"
)

func main() {
	if os.Getenv(once.EnvWorker) != "" {
		os.Exit(once.WorkerMain())
	}
	cfg := once.Defaults()
	flag.IntVar(&cfg.Events, "events", cfg.Events, "events to deliver")
	flag.IntVar(&cfg.MaxCopies, "copies", cfg.MaxCopies, "most copies of one event")
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the events' first deliveries are spread over")
	flag.IntVar(&cfg.Accounts, "accounts", cfg.Accounts, "accounts (lock keys) the events share")
	flag.IntVar(&cfg.Workers, "workers", cfg.Workers, "worker processes at a time")
	flag.Float64Var(&cfg.KillRate, "kill-rate", cfg.KillRate, "share of events whose first delivery's worker is SIGKILLed mid-handler")
	flag.Float64Var(&cfg.FaultRate, "fault-rate", cfg.FaultRate, "share of HTTP requests faulted")
	flag.Float64Var(&cfg.LateRate, "late-rate", cfg.LateRate, "share of writes landing late")
	flag.Float64Var(&cfg.ExtendRate, "extend-rate", cfg.ExtendRate, "share of handler runs that extend one of the middleware's leases (whose end is the deadline plus the grace)")
	flag.Float64Var(&cfg.LostCompletionRate, "lost-completion-rate", cfg.LostCompletionRate,
		"share of completing transactions whose every answer is dropped after they went through (the middleware then releases the claim)")
	flag.BoolVar(&cfg.OddKeys, "odd-keys", cfg.OddKeys, "NUL, \"/\", \"#\" and non-ASCII bytes in a fifth of the idempotency keys and in the accounts")
	flag.BoolVar(&cfg.NULPairs, "nul-pairs", cfg.NULPairs, "pairs of events whose idempotency keys differ only by where a NUL sits (they must never share a claim)")
	flag.DurationVar(&cfg.CompletionExpiry, "completion-expiry", 0, "the workers' lock clients' CompletionExpiry, which the middleware's claims take (default: the lock's, 24h)")
	paths := flag.String("paths", strings.Join(cfg.Paths, ","), "delivery paths, comma-separated, one per event at random: "+strings.Join(once.PathNames(), ", "))
	flag.StringVar(&cfg.Unsafe, "unsafe-claims", "", "break a condition the proof relies on (the check should then fail): "+
		once.UnsafeReacquire+" (claims do not check completion: caught as "+once.RuleAtMostOnce+"), "+
		once.UnsafeShared+" (events 2k and 2k+1 share one claim ID and one payload, their IDs outside it: caught as "+once.RuleSharedClaim+")")
	flag.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "each delivery's invocation deadline")
	flag.StringVar(&cfg.History, "history", "", "file to write the history to; it must not exist (default: a new temporary file, kept)")
	flag.StringVar(&cfg.Endpoint, "endpoint", os.Getenv(dynamotest.EnvEndpoint), "running DynamoDB Local to use (default: start one)")
	check := flag.String("check", "", "judge the history FILE of an earlier run again, and run nothing")
	limit := flag.Int("limit", 50, "most violations to print")
	quiet := flag.Bool("quiet", false, "no progress lines")
	workerLogs := flag.Bool("worker-logs", false, "show the workers' warnings (the middleware's JSON log)")
	flag.Parse()
	if *check != "" {
		r, err := once.CheckFile(*check)
		if err != nil {
			fmt.Fprintln(os.Stderr, "once:", err)
			os.Exit(2)
		}
		r.Print(os.Stdout, *limit)
		if !r.OK() {
			os.Exit(1)
		}
		return
	}
	cfg.Paths = strings.Split(*paths, ",")
	for p, why := range once.KnownBroken(cfg.Paths) {
		fmt.Fprintf(os.Stderr, "once: path %s is expected to fail today: %s\n", p, why)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "once:", err)
		os.Exit(2)
	}
	cfg.Command = func() *exec.Cmd { return exec.Command(self) }
	if !*quiet {
		cfg.Log = os.Stderr
	}
	if *workerLogs {
		cfg.WorkerLog = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := once.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "once:", err)
		os.Exit(2)
	}
	r.Print(os.Stdout, *limit)
	if !r.OK() {
		os.Exit(1)
	}
}
