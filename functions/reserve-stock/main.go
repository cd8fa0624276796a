// Command reserve-stock is an SQS-triggered Lambda function (standard or
// FIFO queue, with ReportBatchItemFailures) that reserves stock for the
// orders in its messages, such as {"orderId":"o-1","sku":"BLUE-MUG",
// "quantity":2}. Each record runs under the lock "sku/<sku>"; a record
// whose SKU another invocation holds goes back to the queue. Each order
// (the body's orderId) is reserved once however often it is delivered:
// a duplicate is acknowledged from the lock table's record of it.
//
// Environment: LOCK_TABLE, APP_TABLE; optional DYNALOCK_DISABLED, LOG_LEVEL,
// WORK_DELAY, DYNALOCK_IDEMPOTENCY (see package fnenv), and
// SQS_VISIBILITY_BACKOFF (see visibility.go).
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/dynalock/dynalock/examples/shop/stock"
	"github.com/dynalock/dynalock/internal/fnenv"
	"github.com/dynalock/dynalock/middleware"
)

func main() {
	env, err := fnenv.Setup(context.Background(), os.Getenv)
	if err != nil {
		log.Fatalf("reserve-stock: %v", err)
	}
	h := &stock.Handler{
		Store: &stock.Store{DB: env.DB, Table: env.AppTable, Think: env.WorkDelay},
		Log:   env.Log,
	}
	backoff, err := visibilityBackoff(context.Background(), os.Getenv)
	if err != nil {
		log.Fatalf("reserve-stock: %v", err)
	}
	// Each order once (DYNALOCK_IDEMPOTENCY=false turns it off): the
	// stock write and the order's completion are one transaction. A
	// record whose SKU is held comes back in about a second, not after
	// the queue's visibility timeout (SQS_VISIBILITY_BACKOFF=false: it
	// does).
	handler, err := middleware.WrapSQS(env.Locks, middleware.SQSBody("sku"), h.Record, env.Middleware(stock.LockNamespace,
		append(fnenv.Idempotent(env, stock.OrderKey()), backoff...)...)...)
	if err != nil {
		log.Fatalf("reserve-stock: %v", err)
	}
	lambda.Start(handler)
}
