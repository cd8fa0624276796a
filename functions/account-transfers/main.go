// Command account-transfers is an API Gateway HTTP API function that
// applies transfers to account balances: POST /accounts/{id}/transfers
// with a body such as {"transferId":"tr-1001","amount":-2500} (cents).
// Each request runs under the lock "account/<id>", the one account-events
// takes, so the two never change one balance at once; a request that
// finds the lock held is answered 409 Conflict with Retry-After.
//
// Environment: LOCK_TABLE, APP_TABLE; optional DYNALOCK_DISABLED, LOG_LEVEL,
// WORK_DELAY (see package fnenv).
package main

import (
	"context"
	"log"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/internal/fnenv"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

func main() {
	ctx := context.Background()
	// This example's own settings (its tables and the demo's switches).
	cfg, err := fnenv.Load(os.Getenv)
	if err != nil {
		log.Fatalf("account-transfers: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	// One DynamoDB client for both tables, from the AWS SDK's default
	// chain (AWS_ENDPOINT_URL_DYNAMODB points it at DynamoDB Local).
	db, err := fnenv.DynamoDB(ctx)
	if err != nil {
		log.Fatalf("account-transfers: %v", err)
	}
	var locks *lock.Client // nil runs without locks (WithDisabled)
	if !cfg.Disabled {
		if locks, err = lock.NewClient(ctx, lock.Config{TableName: cfg.LockTable, DynamoDB: db}); err != nil {
			log.Fatalf("account-transfers: %v", err)
		}
	}
	h := &accounts.TransferHandler{
		Store: &accounts.Store{DB: db, Table: cfg.AppTable, Think: cfg.WorkDelay},
		Log:   logger,
	}
	api := middleware.HTTPAPI()
	handler, err := middleware.WrapHTTP(locks, api, api.PathParameter(accounts.TransferPathParameter), h.Handle,
		middleware.WithNamespace(accounts.LockNamespace),
		middleware.WithDisabled(cfg.Disabled),
		middleware.WithLogger(logger),
		middleware.WithMetrics(os.Stdout))
	if err != nil {
		log.Fatalf("account-transfers: %v", err)
	}
	lambda.Start(handler)
}
