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
	"time"

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
	if fn == AccountTransfers {
		return invokeTransfers(ctx, cfg, file, event, w)
	}
	ledger := NewLedger()
	var skus []string // low-stock-alerts: the SKUs whose alerts to print
	switch fn {
	case TenantExports:
		var e events.SQSEvent
		if err := json.Unmarshal(event, &e); err != nil {
			return notFor(file, fn, err.Error())
		}
		if len(e.Records) == 0 {
			return notFor(file, fn, "it has no Records")
		}
	case ReserveStock:
		var e events.SQSEvent
		if err := json.Unmarshal(event, &e); err != nil {
			return notFor(file, fn, err.Error())
		}
		if len(e.Records) == 0 {
			return notFor(file, fn, "it has no Records")
		}
		if err := ledger.AddSQS(e); err != nil {
			return err
		}
	case AccountEvents:
		var e events.EventBridgeEvent
		if err := json.Unmarshal(event, &e); err != nil {
			return notFor(file, fn, err.Error())
		}
		if e.DetailType == "" || len(e.Detail) == 0 {
			return notFor(file, fn, "it has no detail-type or no detail")
		}
		if err := ledger.AddEvent(e); err != nil {
			return fmt.Errorf("demo: %s: %w", file, err)
		}
	case NightlyRollup:
		var e events.EventBridgeEvent
		if err := json.Unmarshal(event, &e); err != nil {
			return notFor(file, fn, err.Error())
		}
		if e.DetailType != "Scheduled Event" {
			return notFor(file, fn, fmt.Sprintf("its detail-type is %q, not \"Scheduled Event\"", e.DetailType))
		}
		ledger.Transactions["42"] = map[string]int64{}
		ledger.Transactions["7"] = map[string]int64{}
	case LowStockAlerts:
		var e events.DynamoDBEvent
		if err := json.Unmarshal(event, &e); err != nil {
			return notFor(file, fn, err.Error())
		}
		if len(e.Records) == 0 || e.Records[0].EventSource != "aws:dynamodb" {
			return notFor(file, fn, "it has no Records from aws:dynamodb")
		}
		skus = streamSKUs(e)
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
		fmt.Fprintf(w, "stock %s: %s reserved for %s, %d available (of %d)\n",
			x.SKU, count(x.Reserved, "unit", "units"), count(x.Recorded, "order", "orders"), x.Available, InitialStock)
	}
	for _, a := range st.Accounts {
		fmt.Fprintf(w, "account %s: balance %s (opened with %s), %s applied\n",
			a.Account, cents(a.Balance), cents(OpeningBalance), count(a.Applied, "transaction", "transactions"))
	}
	if err := printAlerts(ctx, w, s.Client(), table, skus); err != nil {
		return err
	}
	if fn == TenantExports {
		exports, err := ReadExports(ctx, s.Client(), table)
		if err != nil {
			return err
		}
		for _, x := range exports {
			fmt.Fprintf(w, "export %s of tenant %s: ran %s, %s from start to end\n",
				x.Export, x.Tenant, count(x.Runs, "time", "times"), x.Finished.Sub(x.Started).Round(time.Millisecond))
		}
	}
	if st.Rollup.Runs > 0 {
		fmt.Fprintf(w, "rollup: total %s over %s, %s\n",
			cents(st.Rollup.Total), count(st.Rollup.Accounts, "account", "accounts"), count(st.Rollup.Completed, "run", "runs"))
	}
	fmt.Fprintf(w, "emulator and function output: %s\n", strings.Join(f.LogFiles(), ", "))
	return nil
}

// takes says what events each function takes, for notFor.
var takes = map[string]string{
	ReserveStock:     "an SQS event with Records, such as events/sqs-standard.json or events/sqs-fifo.json",
	AccountEvents:    "an EventBridge AccountCredited or AccountDebited event, such as events/eventbridge-account.json",
	NightlyRollup:    "an EventBridge scheduled event, such as events/schedule.json",
	AccountTransfers: "an API Gateway HTTP API request POST /accounts/{id}/transfers, such as events/http-api-transfer.json",
	LowStockAlerts:   "a DynamoDB Streams event of the application table with Records, such as events/dynamodb-stream-stock.json",
	TenantExports:    "an SQS event whose bodies are {\"tenantId\", \"exportId\"}, such as events/sqs-tenant-exports.json",
}

// notFor is the error for an event file that is not of the kind fn takes.
func notFor(file, fn, why string) error {
	return fmt.Errorf("demo: %s is not an event for %s (%s): %s takes %s", file, fn, why, fn, takes[fn])
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
