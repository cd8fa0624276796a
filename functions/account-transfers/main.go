// Command account-transfers is an API Gateway HTTP API function that
// applies transfers to account balances: POST /accounts/{id}/transfers
// with a body such as {"transferId":"tr-1001","amount":-2500} (cents).
// Each request runs under the lock "account/<id>", the one account-events
// takes, so the two never change one balance at once; a request that
// finds the lock held is answered 409 Conflict with Retry-After.
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
		log.Fatalf("account-transfers: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.logLevel}))
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatalf("account-transfers: AWS configuration: %v", err)
	}
	if awsCfg.Region == "" {
		log.Fatal("account-transfers: no AWS region: set AWS_REGION")
	}
	// One DynamoDB client for both tables.
	db := dynamodb.NewFromConfig(awsCfg, quietLocally)
	var locks *lock.Client // nil runs without locks (WithDisabled)
	if !cfg.disabled {
		if locks, err = lock.NewClient(ctx, lock.Config{TableName: cfg.lockTable, DynamoDB: db}); err != nil {
			log.Fatalf("account-transfers: %v", err)
		}
	}
	h := &accounts.TransferHandler{
		Store: &accounts.Store{DB: db, Table: cfg.appTable, Think: cfg.workDelay},
		Log:   logger,
	}
	api := middleware.HTTPAPI()
	handler, err := middleware.WrapHTTP(locks, api, api.PathParameter(accounts.TransferPathParameter), h.Handle,
		middleware.WithNamespace(accounts.LockNamespace),
		middleware.WithDisabled(cfg.disabled),
		middleware.WithLogger(logger),
		middleware.WithMetrics(os.Stdout)) // one Embedded Metric Format line per invocation
	if err != nil {
		log.Fatalf("account-transfers: %v", err)
	}
	lambda.Start(handler)
}
