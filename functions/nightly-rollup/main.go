// Command nightly-rollup is a scheduled Lambda function (an EventBridge
// schedule) that sums every account's balance into one rollup item. It is
// a singleton: each run holds the lock "job/nightly-rollup", and a run
// that finds it held is skipped.
//
// Environment: LOCK_TABLE, APP_TABLE; optional DYNALOCK_DISABLED,
// LOG_LEVEL, WORK_DELAY (see env.go), and the AWS SDK's own (AWS_REGION;
// AWS_ENDPOINT_URL_DYNAMODB points it at DynamoDB Local).
package main

import (
	"context"
	"log"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/examples/shop/rollup"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

func main() {
	ctx := context.Background()
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		log.Fatalf("nightly-rollup: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.logLevel}))
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatalf("nightly-rollup: AWS configuration: %v", err)
	}
	if awsCfg.Region == "" {
		log.Fatal("nightly-rollup: no AWS region: set AWS_REGION")
	}
	// One DynamoDB client for both tables.
	db := dynamodb.NewFromConfig(awsCfg, quietLocally)
	var locks *lock.Client // nil runs without locks (WithDisabled)
	if !cfg.disabled {
		if locks, err = lock.NewClient(ctx, lock.Config{TableName: cfg.lockTable, DynamoDB: db}); err != nil {
			log.Fatalf("nightly-rollup: %v", err)
		}
	}
	h := &rollup.Handler{
		Job: &rollup.Job{DB: db, Table: cfg.appTable, Think: cfg.workDelay},
		Log: logger,
	}
	handler, err := middleware.Wrap(locks, middleware.Constant[events.EventBridgeEvent]("nightly-rollup"), h.Handle,
		middleware.WithNamespace(rollup.LockNamespace),
		middleware.WithOnHeld(middleware.Skip),
		middleware.WithDisabled(cfg.disabled),
		middleware.WithLogger(logger),
		middleware.WithMetrics(os.Stdout)) // one Embedded Metric Format line per invocation
	if err != nil {
		log.Fatalf("nightly-rollup: %v", err)
	}
	lambda.Start(handler)
}
