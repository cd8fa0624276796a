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
// WORK_DELAY (see package fnenv).
package main

import (
	"context"
	"log"
	"log/slog"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/dynalock/dynalock/examples/shop/stock"
	"github.com/dynalock/dynalock/internal/fnenv"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

func main() {
	ctx := context.Background()
	// This example's own settings (its tables and the demo's switches).
	cfg, err := fnenv.Load(os.Getenv)
	if err != nil {
		log.Fatalf("low-stock-alerts: %v", err)
	}
	var threshold int64 = stock.DefaultAlertThreshold
	if v := os.Getenv("LOW_STOCK_THRESHOLD"); v != "" {
		if threshold, err = strconv.ParseInt(v, 10, 64); err != nil || threshold <= 0 {
			log.Fatalf("low-stock-alerts: LOW_STOCK_THRESHOLD %q: want a positive integer", v)
		}
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	// One DynamoDB client for both tables, from the AWS SDK's default
	// chain (AWS_ENDPOINT_URL_DYNAMODB points it at DynamoDB Local).
	db, err := fnenv.DynamoDB(ctx)
	if err != nil {
		log.Fatalf("low-stock-alerts: %v", err)
	}
	var locks *lock.Client // nil runs without locks (WithDisabled)
	if !cfg.Disabled {
		if locks, err = lock.NewClient(ctx, lock.Config{TableName: cfg.LockTable, DynamoDB: db}); err != nil {
			log.Fatalf("low-stock-alerts: %v", err)
		}
	}
	a := &stock.Alerter{
		Store:     &stock.Store{DB: db, Table: cfg.AppTable, Think: cfg.WorkDelay},
		Threshold: threshold,
		Log:       logger,
	}
	handler, err := middleware.WrapDynamoDBStream(locks, stock.AlertKey(), a.Handle,
		middleware.WithNamespace(stock.LockNamespace),
		// Records of other items (accounts, the alerts themselves) have
		// no SKU key: they run unlocked and Alerter ignores them. The
		// stack's event source filter keeps most of them away.
		middleware.WithRunUnkeyed(),
		middleware.WithDisabled(cfg.Disabled),
		middleware.WithLogger(logger),
		middleware.WithMetrics(os.Stdout))
	if err != nil {
		log.Fatalf("low-stock-alerts: %v", err)
	}
	lambda.Start(handler)
}
