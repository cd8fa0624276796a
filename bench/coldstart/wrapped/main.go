// Command wrapped is an SQS-triggered Lambda function whose handler does
// nothing, under the middleware: each record runs under the lock of the
// "sku" in its body. The cold-start benchmark measures it beside bare and
// sdk.
//
// Environment: LOCK_TABLE.
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

func main() {
	table := os.Getenv("LOCK_TABLE")
	if table == "" {
		log.Fatal("wrapped: LOCK_TABLE is not set")
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatalf("wrapped: %v", err)
	}
	c, err := lock.NewClient(context.Background(), lock.Config{TableName: table, DynamoDB: dynamodb.NewFromConfig(cfg)})
	if err != nil {
		log.Fatalf("wrapped: %v", err)
	}
	h, err := middleware.WrapSQS(c, middleware.SQSBody("sku"), func(context.Context, events.SQSMessage) error { return nil },
		middleware.WithNamespace("sku"))
	if err != nil {
		log.Fatalf("wrapped: %v", err)
	}
	lambda.Start(h)
}
