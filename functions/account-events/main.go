// Command account-events is an EventBridge-triggered Lambda function that
// applies AccountCredited and AccountDebited events, such as
// {"detail-type":"AccountDebited","detail":{"accountId":"42","amount":10}},
// to account balances. Each event runs under the lock
// "account/<accountId>", waiting for it within the invocation's time, and
// each transaction is applied once however often it is delivered.
//
// Environment: LOCK_TABLE, APP_TABLE; optional DYNALOCK_DISABLED,
// DYNALOCK_IDEMPOTENCY, LOG_LEVEL, WORK_DELAY (see env.go), and the AWS
// SDK's own (AWS_REGION; AWS_ENDPOINT_URL_DYNAMODB points it at DynamoDB
// Local).
package main

import (
	"context"
	"log"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

func main() {
	ctx := context.Background()
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		log.Fatalf("account-events: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.logLevel}))
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatalf("account-events: AWS configuration: %v", err)
	}
	if awsCfg.Region == "" {
		log.Fatal("account-events: no AWS region: set AWS_REGION")
	}
	// One DynamoDB client for both tables.
	db := dynamodb.NewFromConfig(awsCfg, quietLocally)
	var locks *lock.Client // nil runs without locks (WithDisabled)
	if !cfg.disabled {
		if locks, err = lock.NewClient(ctx, lock.Config{TableName: cfg.lockTable, DynamoDB: db}); err != nil {
			log.Fatalf("account-events: %v", err)
		}
	}
	h := &accounts.Handler{
		Store: &accounts.Store{DB: db, Table: cfg.appTable, Think: cfg.workDelay},
		Log:   logger,
	}
	opts := []middleware.Option{
		middleware.WithNamespace(accounts.LockNamespace),
		middleware.WithOnHeld(middleware.Wait),
		middleware.WithDisabled(cfg.disabled),
		middleware.WithLogger(logger),
		middleware.WithMetrics(os.Stdout), // one Embedded Metric Format line per invocation
	}
	if cfg.idempotent {
		// Each transaction once: the balance write and the event's
		// completion are one transaction, and a duplicate gets the first
		// delivery's Outcome; the same transaction ID in another event
		// fails it.
		opts = append(opts, middleware.WithIdempotency(accounts.TransactionKey()))
	}
	handler, err := middleware.Wrap(locks, middleware.EventBridgeDetail("accountId"), h.Handle, opts...)
	if err != nil {
		log.Fatalf("account-events: %v", err)
	}
	lambda.Start(handler)
}
