// Command lockonly is an SQS-triggered Lambda function that, for each
// record, acquires and releases the record's lock with the lock package
// alone (lock.Client, no middleware): beside sdkwrites (the same requests
// without the library) and wrapped (the middleware), it splits what
// DynaLock adds to a cold start between the lock and the middleware.
//
// Environment: LOCK_TABLE.
package main

import (
	"context"
	"encoding/json"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/lock"
)

func main() {
	table := os.Getenv("LOCK_TABLE")
	if table == "" {
		log.Fatal("lockonly: LOCK_TABLE is not set")
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatalf("lockonly: %v", err)
	}
	c, err := lock.NewClient(context.Background(), lock.Config{TableName: table, DynamoDB: dynamodb.NewFromConfig(cfg)})
	if err != nil {
		log.Fatalf("lockonly: %v", err)
	}
	lambda.Start(func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		for _, m := range e.Records {
			var body struct{ SKU string }
			if err := json.Unmarshal([]byte(m.Body), &body); err != nil {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				continue
			}
			l, err := c.Lock("sku/" + body.SKU).Acquire(ctx)
			if err != nil {
				return resp, err
			}
			if err := l.Release(ctx); err != nil {
				return resp, err
			}
		}
		return resp, nil
	})
}
