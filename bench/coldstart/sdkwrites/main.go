// Command sdkwrites is an SQS-triggered Lambda function that sets up a
// DynamoDB client and, for each record, sends the two requests that the
// middleware's lock sends (DynaLock's acquire and release UpdateItems,
// written out by hand in bench/internal/rawreq) without the library: the
// cold-start benchmark's fair baseline for wrapped, so that the difference
// is what DynaLock itself adds to init and to the first invocation.
//
// Environment: LOCK_TABLE.
package main

import (
	"context"
	"encoding/json"
	"log"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/bench/internal/rawreq"
)

func main() {
	table := os.Getenv("LOCK_TABLE")
	if table == "" {
		log.Fatal("sdkwrites: LOCK_TABLE is not set")
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatalf("sdkwrites: %v", err)
	}
	db := dynamodb.NewFromConfig(cfg)
	host, _ := os.Hostname()
	owner := host + ":" + strconv.Itoa(os.Getpid())
	if fn := os.Getenv("AWS_LAMBDA_FUNCTION_NAME"); fn != "" {
		owner = fn + "/" + os.Getenv("AWS_LAMBDA_LOG_STREAM_NAME")
	}
	lambda.Start(func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		var requestID string
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			requestID = lc.AwsRequestID
		}
		for _, m := range e.Records {
			var body struct{ SKU string }
			if err := json.Unmarshal([]byte(m.Body), &body); err != nil {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				continue
			}
			id, lease := "sku/"+body.SKU, rawreq.NewID()
			acquire := rawreq.Acquire{Table: table, ID: id, LeaseID: lease, Owner: owner, Host: host, RequestID: requestID,
				Now: time.Now(), TTL: 60 * time.Second, Skew: time.Second, Retention: 24 * time.Hour}
			out, err := db.UpdateItem(ctx, acquire.Input())
			if err != nil {
				return resp, err
			}
			tok, err := rawreq.TokenOf(out.Attributes)
			if err != nil {
				return resp, err
			}
			if _, err := db.UpdateItem(ctx, rawreq.Release(table, id, lease, tok, time.Now(), 24*time.Hour)); err != nil {
				return resp, err
			}
		}
		return resp, nil
	})
}
