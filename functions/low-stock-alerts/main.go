// Command low-stock-alerts is a DynamoDB Streams consumer of the
// application table: when a SKU item's Available falls below a threshold
// it raises one alert for the SKU (an "alert#<sku>" item), and clears it
// once the SKU is restocked. Each record runs under the lock "sku/<sku>",
// the one reserve-stock takes, so an alert is never decided while the SKU
// is being reserved; records run in stream order, and at the first one
// that fails the function reports its sequence number, so Lambda retries
// from there (ReportBatchItemFailures).
//
// Environment: LOCK_TABLE, APP_TABLE; optional LOW_STOCK_THRESHOLD
// (default stock.DefaultAlertThreshold, 5), DYNALOCK_DISABLED, LOG_LEVEL,
// WORK_DELAY (see env.go), and the AWS SDK's own (AWS_REGION;
// AWS_ENDPOINT_URL_DYNAMODB points it at DynamoDB Local).
package main

import (
	"context"
	"log"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/examples/shop/stock"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

func main() {
	ctx := context.Background()
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		log.Fatalf("low-stock-alerts: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.logLevel}))
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatalf("low-stock-alerts: AWS configuration: %v", err)
	}
	if awsCfg.Region == "" {
		log.Fatal("low-stock-alerts: no AWS region: set AWS_REGION")
	}
	// One DynamoDB client for both tables.
	db := dynamodb.NewFromConfig(awsCfg, quietLocally)
	var locks *lock.Client // nil runs without locks (WithDisabled)
	if !cfg.disabled {
		if locks, err = lock.NewClient(ctx, lock.Config{TableName: cfg.lockTable, DynamoDB: db}); err != nil {
			log.Fatalf("low-stock-alerts: %v", err)
		}
	}
	a := &stock.Alerter{
		Store:     &stock.Store{DB: db, Table: cfg.appTable, Think: cfg.workDelay},
		Threshold: cfg.threshold,
		Log:       logger,
	}
	handler, err := middleware.WrapDynamoDBStream(locks, stock.AlertKey(), a.Handle,
		middleware.WithNamespace(stock.LockNamespace),
		// Records of other items (accounts, the alerts themselves) have
		// no SKU key: they run unlocked and Alerter ignores them. The
		// stack's event source filter keeps most of them away.
		middleware.WithRunUnkeyed(),
		middleware.WithDisabled(cfg.disabled),
		middleware.WithLogger(logger),
		middleware.WithMetrics(os.Stdout)) // one Embedded Metric Format line per invocation
	if err != nil {
		log.Fatalf("low-stock-alerts: %v", err)
	}
	lambda.Start(handler)
}
