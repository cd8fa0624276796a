// Command account-events is an EventBridge-triggered Lambda function that
// applies AccountCredited and AccountDebited events, such as
// {"detail-type":"AccountDebited","detail":{"accountId":"42","amount":10}},
// to account balances. Each event runs under the lock
// "account/<accountId>", waiting for it within the invocation's time, and
// each transaction is applied once however often it is delivered.
//
// Environment: LOCK_TABLE, APP_TABLE; optional DYNALOCK_DISABLED, LOG_LEVEL,
// WORK_DELAY, DYNALOCK_IDEMPOTENCY (see package fnenv).
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/internal/fnenv"
	"github.com/dynalock/dynalock/middleware"
)

func main() {
	env, err := fnenv.Setup(context.Background(), os.Getenv)
	if err != nil {
		log.Fatalf("account-events: %v", err)
	}
	h := &accounts.Handler{
		Store: &accounts.Store{DB: env.DB, Table: env.AppTable, Think: env.WorkDelay},
		Log:   env.Log,
	}
	// Each transaction once (DYNALOCK_IDEMPOTENCY=false turns it off): the
	// balance write and the event's completion are one transaction, and a
	// duplicate gets the first delivery's Outcome; the same transaction ID
	// in another event fails it.
	handler, err := middleware.Wrap(env.Locks, middleware.EventBridgeDetail("accountId"), h.Handle,
		env.Middleware(accounts.LockNamespace, append([]middleware.Option{middleware.WithOnHeld(middleware.Wait)},
			fnenv.Idempotent(env, accounts.TransactionKey())...)...)...)
	if err != nil {
		log.Fatalf("account-events: %v", err)
	}
	lambda.Start(handler)
}
