package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// InvokeOnce sends the event in file to function fn, once, locally: it
// starts DynamoDB Local, creates the tables, seeds the SKUs or accounts the
// event names (or two accounts, for nightly-rollup), starts one emulator
// of fn, invokes it, and writes the response and the data to w. It stops
// everything it started before it returns.
func InvokeOnce(ctx context.Context, cfg Config, fn, file string, w io.Writer) error {
	cfg.defaults()
	if !slices.Contains(FunctionNames(), fn) {
		return fmt.Errorf("demo: unknown function %q: want one of %v", fn, FunctionNames())
	}
	event, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	ledger := NewLedger()
	switch fn {
	case ReserveStock:
		var e events.SQSEvent
		if err := json.Unmarshal(event, &e); err != nil {
			return fmt.Errorf("demo: %s is not an SQS event: %w", file, err)
		}
		if len(e.Records) == 0 {
			return fmt.Errorf("demo: %s is not an SQS event: no Records", file)
		}
		if err := ledger.AddSQS(e); err != nil {
			return err
		}
	case AccountEvents:
		var e events.EventBridgeEvent
		if err := json.Unmarshal(event, &e); err != nil {
			return fmt.Errorf("demo: %s is not an EventBridge event: %w", file, err)
		}
		if err := ledger.AddEvent(e); err != nil {
			return err
		}
	case NightlyRollup:
		var e events.EventBridgeEvent
		if err := json.Unmarshal(event, &e); err != nil || e.DetailType != "Scheduled Event" {
			return fmt.Errorf("demo: %s is not a scheduled event (detail-type %q): %v", file, e.DetailType, err)
		}
		ledger.Transactions["42"] = map[string]int64{}
		ledger.Transactions["7"] = map[string]int64{}
	}
	s, err := NewStack(ctx, StackConfig{BinDir: cfg.BinDir, LogDir: cfg.LogDir})
	if err != nil {
		return err
	}
	defer s.Close()
	table := s.LockTable + "-app"
	if err := s.CreateAppTable(ctx, table); err != nil {
		return err
	}
	apps := s.AppsOf(table)
	if err := ledger.Seed(ctx, apps.Stock, apps.Accounts); err != nil {
		return err
	}
	f, err := s.Start(ctx, fn, table, 1, nil)
	if err != nil {
		return err
	}
	resp, err := f.Invoke(ctx, event)
	if err != nil {
		return err
	}
	f.Stop() // flushes its output
	fmt.Fprintf(w, "%s ← %s\n", fn, file)
	if err := printLog(w, f.LogFiles()); err != nil {
		return err
	}
	if resp.Err != nil {
		fmt.Fprintf(w, "error: %s\n", resp.Err)
	} else {
		var out bytes.Buffer
		if json.Indent(&out, resp.Payload, "", "  ") != nil {
			out.Write(resp.Payload)
		}
		fmt.Fprintf(w, "response: %s\n", out.String())
	}
	st, err := ledger.Compare(ctx, apps.Stock, apps.Accounts, apps.Rollup)
	if err != nil {
		return err
	}
	for _, x := range st.SKUs {
		fmt.Fprintf(w, "stock %s: %d reserved for %d orders, %d available (of %d)\n", x.SKU, x.Reserved, x.Recorded, x.Available, InitialStock)
	}
	for _, a := range st.Accounts {
		fmt.Fprintf(w, "account %s: balance %s (opened with %s), %d transactions applied\n", a.Account, cents(a.Balance), cents(OpeningBalance), a.Applied)
	}
	if st.Rollup.Runs > 0 {
		fmt.Fprintf(w, "rollup: total %s over %d accounts, %d runs\n", cents(st.Rollup.Total), st.Rollup.Accounts, st.Rollup.Completed)
	}
	fmt.Fprintf(w, "emulator and function output: %s\n", strings.Join(f.LogFiles(), ", "))
	return nil
}

// printLog writes the function's own log lines (JSON, metrics left out)
// from its output files.
func printLog(w io.Writer, files []string) error {
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "{") && !strings.Contains(line, `"_aws"`) {
				fmt.Fprintf(w, "log: %s\n", line)
			}
		}
	}
	return nil
}
