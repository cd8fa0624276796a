// Command sdk is an SQS-triggered Lambda function that does nothing but
// set up a DynamoDB client, as any function using DynamoDB does: what the
// AWS SDK alone adds to the cold start.
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatalf("sdk: %v", err)
	}
	db := dynamodb.NewFromConfig(cfg)
	lambda.Start(func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		_ = db
		return events.SQSEventResponse{}, nil
	})
}
