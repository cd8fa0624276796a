package e2e_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/internal/demo"
)

// While another holder has an account's lock, account-transfers answers
// its requests 409 Conflict with a problem body and a Retry-After that
// covers the holder's lease; clients that retry succeed once it is free,
// and every transfer is applied once.
func TestTransfersWhileAccountHeld(t *testing.T) {
	ctx := context.Background()
	ledger := demo.NewLedger()
	var reqs []events.APIGatewayV2HTTPRequest
	for n := 1; n <= 6; n++ {
		r, err := demo.CopyTransfer(samples.Transfers[0], n)
		if err != nil {
			t.Fatal(err)
		}
		if err := ledger.AddTransfer(r); err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, r)
	}
	account := reqs[0].PathParameters[accounts.TransferPathParameter]
	table, apps := appTable(t, ledger)
	f, err := stack.Start(ctx, demo.AccountTransfers, table, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()

	// GIVEN another holder of the account's lock (account-events, say),
	// for 2 s
	locks := holder(t, "account-events", 2*time.Second)
	held, err := locks.Lock(accounts.LockNamespace + "/" + account).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Not before the lease's end plus the tolerance; Deadline is the end
	// less the tolerance.
	takeover := held.Deadline().Add(2 * locks.Config().ClockSkewTolerance)

	// WHEN one request is sent
	payload, err := json.Marshal(reqs[0])
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	resp, err := f.Invoke(ctx, payload)
	if err != nil || resp.Err != nil {
		t.Fatalf("invoke: %v, %v", err, resp.Err)
	}
	// THEN it is answered 409 with a problem and a Retry-After reaching
	// past the holder's lease
	var out events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(resp.Payload, &out); err != nil {
		t.Fatal(err)
	}
	if out.StatusCode != 409 || out.Headers["Content-Type"] != "application/problem+json" {
		t.Fatalf("answer %d %v %s, want a 409 problem", out.StatusCode, out.Headers, out.Body)
	}
	secs, err := strconv.Atoi(out.Headers["Retry-After"])
	if err != nil || sent.Add(time.Duration(secs)*time.Second).Before(takeover.Add(-time.Second)) {
		t.Errorf("Retry-After %q: the lock cannot be taken until %s after sending", out.Headers["Retry-After"], takeover.Sub(sent))
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(out.Body), &p); err != nil || p["type"] != "https://github.com/dynalock/dynalock#problem-lock-held" || p["status"] != 409.0 {
		t.Errorf("problem %s: %v", out.Body, err)
	}

	// AND WHEN every request is sent at once by clients that retry
	res, err := demo.SendHTTP(ctx, f, reqs, 40)
	if err != nil {
		t.Fatal(err)
	}
	// THEN all succeed, some after 409s, and each transfer is applied once
	if res.Succeeded() != len(reqs) || res.Conflicts == 0 {
		t.Errorf("%+v: want all %d to succeed, after 409s", res, len(reqs))
	}
	st, err := ledger.Compare(ctx, apps.Stock, apps.Accounts, apps.Rollup)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range st.Accounts {
		if !a.OK() {
			t.Errorf("account %s: %+v", a.Account, a)
		}
	}
	if err := held.Release(ctx); err == nil {
		t.Error("the holder's lease was still its own after the transfers ran")
	}
	nothingLocked(t)
}
