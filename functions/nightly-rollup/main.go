// Command nightly-rollup is a scheduled Lambda function (an EventBridge
// schedule) that sums every account's balance into one rollup item. It is
// a singleton: each run holds the lock "job/nightly-rollup", and a run
// that finds it held is skipped.
//
// Environment: LOCK_TABLE, APP_TABLE; optional DYNALOCK_DISABLED, LOG_LEVEL,
// WORK_DELAY (see package fnenv).
package main

import (
	"context"
	"log"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/dynalock/dynalock/examples/shop/rollup"
	"github.com/dynalock/dynalock/internal/fnenv"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

func main() {
	ctx := context.Background()
	// This example's own settings (its tables and the demo's switches).
	cfg, err := fnenv.Load(os.Getenv)
	if err != nil {
		log.Fatalf("nightly-rollup: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	// One DynamoDB client for both tables, from the AWS SDK's default
	// chain (AWS_ENDPOINT_URL_DYNAMODB points it at DynamoDB Local).
	db, err := fnenv.DynamoDB(ctx)
	if err != nil {
		log.Fatalf("nightly-rollup: %v", err)
	}
	var locks *lock.Client // nil runs without locks (WithDisabled)
	if !cfg.Disabled {
		if locks, err = lock.NewClient(ctx, lock.Config{TableName: cfg.LockTable, DynamoDB: db}); err != nil {
			log.Fatalf("nightly-rollup: %v", err)
		}
	}
	h := &rollup.Handler{
		Job: &rollup.Job{DB: db, Table: cfg.AppTable, Think: cfg.WorkDelay},
		Log: logger,
	}
	handler, err := middleware.Wrap(locks, middleware.Constant[events.EventBridgeEvent]("nightly-rollup"), h.Handle,
		middleware.WithNamespace(rollup.LockNamespace),
		middleware.WithOnHeld(middleware.Skip),
		middleware.WithDisabled(cfg.Disabled),
		middleware.WithLogger(logger),
		middleware.WithMetrics(os.Stdout))
	if err != nil {
		log.Fatalf("nightly-rollup: %v", err)
	}
	lambda.Start(handler)
}
