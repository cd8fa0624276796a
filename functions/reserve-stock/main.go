// Command reserve-stock is an SQS-triggered Lambda function (standard or
// FIFO queue, with ReportBatchItemFailures) that reserves stock for the
// orders in its messages, such as {"orderId":"o-1","sku":"BLUE-MUG",
// "quantity":2}. Each record runs under the lock "sku/<sku>"; a record
// whose SKU another invocation holds goes back to the queue, and comes
// back in about a second rather than after the queue's visibility
// timeout. Each order (the body's orderId) is reserved once however often
// it is delivered: a duplicate is acknowledged from the lock table's
// record of it.
//
// Environment: LOCK_TABLE, APP_TABLE; optional DYNALOCK_DISABLED,
// DYNALOCK_IDEMPOTENCY, SQS_VISIBILITY_BACKOFF, LOG_LEVEL, WORK_DELAY (see
// env.go), and the AWS SDK's own (AWS_REGION; AWS_ENDPOINT_URL_DYNAMODB
// and AWS_ENDPOINT_URL_SQS point it at local stand-ins).
package main

import (
	"context"
	"log"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/dynalock/dynalock/examples/shop/stock"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

func main() {
	ctx := context.Background()
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		log.Fatalf("reserve-stock: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.logLevel}))
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatalf("reserve-stock: AWS configuration: %v", err)
	}
	if awsCfg.Region == "" {
		log.Fatal("reserve-stock: no AWS region: set AWS_REGION")
	}
	// One DynamoDB client for both tables.
	db := dynamodb.NewFromConfig(awsCfg, quietLocally)
	var locks *lock.Client // nil runs without locks (WithDisabled)
	if !cfg.disabled {
		if locks, err = lock.NewClient(ctx, lock.Config{TableName: cfg.lockTable, DynamoDB: db}); err != nil {
			log.Fatalf("reserve-stock: %v", err)
		}
	}
	h := &stock.Handler{
		Store: &stock.Store{DB: db, Table: cfg.appTable, Think: cfg.workDelay},
		Log:   logger,
	}
	opts := []middleware.Option{
		middleware.WithNamespace(stock.LockNamespace),
		middleware.WithDisabled(cfg.disabled),
		middleware.WithLogger(logger),
		middleware.WithMetrics(os.Stdout), // one Embedded Metric Format line per invocation
	}
	if cfg.idempotent {
		// Each order once: the stock write and the order's completion
		// are one transaction.
		opts = append(opts, middleware.WithIdempotency(stock.OrderKey()))
	}
	if cfg.visibilityBackoff {
		// A record whose SKU is held comes back in about a second.
		opts = append(opts, middleware.WithVisibilityBackoff(sqs.NewFromConfig(awsCfg)))
	}
	handler, err := middleware.WrapSQS(locks, middleware.SQSBody("sku"), h.Record, opts...)
	if err != nil {
		log.Fatalf("reserve-stock: %v", err)
	}
	lambda.Start(handler)
}
