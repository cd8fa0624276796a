package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// TransferCopies is how many copies of its request `make invoke
// FN=account-transfers` sends at once, and TransferEnvironments how many
// execution environments serve them.
const (
	TransferCopies       = 8
	TransferEnvironments = 4
)

// invokeTransfers is InvokeOnce for account-transfers: an HTTP API takes
// concurrent requests, so it sends TransferCopies copies of the request
// (each its own transfer on the same account) at once to
// TransferEnvironments emulators, whose clients retry 409s, and shows the
// first 409 as a client gets it.
func invokeTransfers(ctx context.Context, cfg Config, file string, event []byte, w io.Writer) error {
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(event, &req); err != nil {
		return notFor(file, AccountTransfers, err.Error())
	}
	if _, err := TransferOf(req); err != nil {
		return notFor(file, AccountTransfers, err.Error())
	}
	sample := Sample[events.APIGatewayV2HTTPRequest]{File: filepath.Base(file), Event: req}
	ledger := NewLedger()
	var reqs []events.APIGatewayV2HTTPRequest
	for n := 1; n <= TransferCopies; n++ {
		cp, err := CopyTransfer(sample, n)
		if err != nil {
			return err
		}
		if err := ledger.AddTransfer(cp); err != nil {
			return err
		}
		reqs = append(reqs, cp)
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
	f, err := s.Start(ctx, AccountTransfers, table, TransferEnvironments, map[string]string{"WORK_DELAY": cfg.WorkDelay.String()})
	if err != nil {
		return err
	}
	res, err := SendHTTP(ctx, f, reqs, 20)
	if err != nil {
		return err
	}
	f.Stop()
	fmt.Fprintf(w, "%s ← %s: %d copies at once (own transfer IDs, one account), %d execution environments, %s work each\n",
		AccountTransfers, file, TransferCopies, TransferEnvironments, cfg.WorkDelay)
	if err := printLog(w, f.LogFiles()); err != nil {
		return err
	}
	if c := res.FirstConflict; c != nil {
		var keys []string
		for k := range c.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "first 409 a client got:\n  HTTP %d\n", c.StatusCode)
		for _, k := range keys {
			fmt.Fprintf(w, "  %s: %s\n", k, c.Headers[k])
		}
		fmt.Fprintf(w, "  %s\n", c.Body)
	}
	var final []string
	for st, n := range res.Final {
		final = append(final, fmt.Sprintf("%d × %d", n, st))
	}
	sort.Strings(final)
	fmt.Fprintf(w, "clients: %s; %s answered 409 Conflict", count(res.Invocations, "attempt", "attempts"), count(res.Conflicts, "attempt", "attempts"))
	if res.Conflicts > 0 {
		fmt.Fprintf(w, " (Retry-After %d–%d s); each retried after at most its Retry-After, up to %s", res.MinRetryAfter, res.MaxRetryAfter, count(res.MaxAttempts, "attempt", "attempts"))
	}
	fmt.Fprintf(w, "; final answers: %s\n", strings.Join(final, ", "))
	st, err := ledger.Compare(ctx, apps.Stock, apps.Accounts, apps.Rollup)
	if err != nil {
		return err
	}
	for _, a := range st.Accounts {
		fmt.Fprintf(w, "account %s: balance %s (opened with %s, want %s), %s applied\n",
			a.Account, cents(a.Balance), cents(OpeningBalance), cents(a.Expected), count(a.Applied, "transaction", "transactions"))
	}
	fmt.Fprintf(w, "emulator and function output: %s\n", strings.Join(f.LogFiles(), ", "))
	return nil
}
