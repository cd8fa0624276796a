// Command demo runs DynaLock end to end on this machine, as `make demo`
// does: the example functions' own bootstrap binaries under the Lambda
// Runtime Interface Emulator, several execution environments each, against
// DynamoDB Local: with locking (low-stock-alerts fed the application
// table's DynamoDB stream), a holder killed mid-handler, SQS without the
// visibility backoff, without locking, duplicate deliveries with and
// without idempotency, and a per-tenant limit (tenant-exports: at most
// TENANT_PERMITS exports of one tenant at once). Each capability once, in under a minute; -full (as
// `make demo-full`) runs the long scenario set, several minutes. It prints
// a report and exits 1 if a promise did not hold.
//
// With -fn and -event it instead sends one event to one function, as
// `make invoke` does, and prints the response and the data it touched.
//
// Usage:
//
//	demo [-full] [-bin build/local] [-events events] [-logs .demo/logs] [-instances 4] [-copies 2]
//	demo -fn reserve-stock -event events/sqs-standard.json
//	demo -fn low-stock-alerts -event events/dynamodb-stream-stock.json
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/dynalock/dynalock/internal/demo"
)

func main() {
	os.Exit(run())
}

func run() int {
	var cfg demo.Config
	flag.StringVar(&cfg.BinDir, "bin", "build/local", "directory of aws-lambda-rie and <function>/bootstrap built for this machine")
	flag.StringVar(&cfg.EventsDir, "events", "events", "directory of the sample events")
	flag.StringVar(&cfg.LogDir, "logs", ".demo/logs", "directory for the functions' output")
	flag.BoolVar(&cfg.Full, "full", false, "run the long scenario set (8 copies of each event, 3 rounds of scheduled runs; several minutes)")
	flag.IntVar(&cfg.Instances, "instances", 4, "execution environments per function")
	flag.IntVar(&cfg.Copies, "copies", 0, "copies of each sample event to send (0: 2, or 8 with -full)")
	fn := flag.String("fn", "", "invoke this function once instead of running the demo")
	event := flag.String("event", "", "with -fn: the event file to send")
	flag.Parse()

	// DynamoDB Local's JVM starts in a third of the time with the client
	// compiler only (measured at a load average of 24 on two cores: 9 s,
	// not 27 s), and a run of a minute gains nothing from the server
	// compiler; the JVM reads JAVA_TOOL_OPTIONS, and the demo's children
	// inherit it. Left alone when set.
	if _, set := os.LookupEnv("JAVA_TOOL_OPTIONS"); !set {
		_ = os.Setenv("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -Xshare:auto")
	}

	// Ctrl-C or SIGTERM cancels ctx; the deferred clean-up then stops every
	// process the demo started.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *fn != "" {
		if *event == "" {
			fmt.Fprintln(os.Stderr, "demo: -fn needs -event")
			return 2
		}
		if err := demo.InvokeOnce(ctx, cfg, *fn, *event, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	cfg.Progress = os.Stdout
	r, err := demo.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "demo: interrupted; everything it started is stopped")
		}
		return 1
	}
	r.Print(os.Stdout)
	if !r.OK() {
		return 1
	}
	return 0
}
