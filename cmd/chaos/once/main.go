// Command once runs the fault-injection proof of the middleware's
// idempotency (internal/chaos/once): every event delivered one to five
// times — at once, after the first, after a lost answer, after a SIGKILL
// mid-handler — through middleware.Wrap with WithIdempotency over faulty
// connections to DynamoDB Local, then every event's effects counted. It
// prints the figures and exits 1 on any violation.
//
//	once [-events 1500] [-duration 90s] [-workers 6] [...]
//
// The binary is also the worker processes, which the driver starts.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/dynalock/dynalock/internal/chaos/once"
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
	flag.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "each delivery's invocation deadline")
	quiet := flag.Bool("quiet", false, "no progress lines")
	workerLogs := flag.Bool("worker-logs", false, "show the workers' warnings (the middleware's JSON log)")
	flag.Parse()
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
	r.Print(os.Stdout)
	if !r.OK() {
		os.Exit(1)
	}
}
