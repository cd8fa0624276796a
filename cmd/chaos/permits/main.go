// Command permits runs the fault-injection proof of lock IDs with N > 1
// permits (internal/chaos/permits): holders on faulty connections to
// DynamoDB Local, with skewed clocks, short callers, pauses, extends,
// heartbeats and crashes, taking permits of a few IDs. It writes the run's
// history (JSON lines), judges it from that file, prints the figures and
// exits 1 on any violation.
//
//	permits [-duration 60s] [-permits 3] [-holders 8] [-locks 2] [-history FILE] [-unsafe]
//	permits -check FILE
//
// -check judges a recorded history again, without running anything.
// -unsafe takes the acquire's bound on the number of holders out of its
// condition, so that the check must fail.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/dynalock/dynalock/internal/chaos/permits"
	"github.com/dynalock/dynalock/internal/dynamotest"
)

func main() {
	cfg := permits.Defaults()
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the holders contend")
	flag.IntVar(&cfg.Permits, "permits", cfg.Permits, "permits per lock ID (N)")
	flag.IntVar(&cfg.Holders, "holders", cfg.Holders, "concurrent holders")
	flag.IntVar(&cfg.Locks, "locks", cfg.Locks, "lock IDs")
	flag.BoolVar(&cfg.Unsafe, "unsafe", false, "drop the acquire's bound on holders: the check must fail")
	history := flag.String("history", "", "history file (default: a kept temporary file)")
	check := flag.String("check", "", "judge this recorded history and exit")
	flag.Parse()
	if *check != "" {
		os.Exit(judge(*check))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *history == "" {
		f, err := os.CreateTemp("", "permits-*.jsonl")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		f.Close()
		*history = f.Name()
	}
	srv, err := dynamotest.Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	err = permits.Run(ctx, cfg, srv.Endpoint, *history)
	srv.Stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("permits: history %s (judge it again: go run ./cmd/chaos/permits -check %s)\n", *history, *history)
	os.Exit(judge(*history))
}

func judge(path string) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer f.Close()
	events, err := permits.Load(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	r := permits.Check(events)
	fmt.Print(r)
	if len(r.Violations) > 0 {
		return 1
	}
	return 0
}
