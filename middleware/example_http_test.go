package middleware_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// An HTTP API function that changes one account at a time: POST
// /accounts/{id}/transfers locks "account/<id>", the lock an EventBridge
// function on accounts takes too. A request that finds it held is
// answered 409 Conflict with Retry-After, which the client retries.
func ExampleWrapHTTP() {
	ctx := context.Background()
	api := middleware.HTTPAPI()
	h, err := middleware.WrapHTTP(newLockClient(ctx), api, api.PathParameter("id"),
		func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			lease, _ := lock.FromContext(ctx)
			_ = lease.FencingToken() // guard the balance write with it
			return events.APIGatewayV2HTTPResponse{StatusCode: 201}, nil
		},
		middleware.WithNamespace("account"))
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h)
}

// What a client gets while another invocation holds the lock: a 409
// problem naming the key from its request, and when to retry.
func ExampleWrapHTTP_conflict() {
	ctx := context.Background()
	locks := newLockClient(ctx)
	// Another invocation holds account/example-7 for 10 s.
	elsewhere, err := lock.NewClient(ctx, lock.Config{TableName: os.Getenv("LOCK_TABLE"), TTL: 10 * time.Second, Owner: "account-events"})
	if err != nil {
		log.Fatal(err)
	}
	other, err := elsewhere.Lock("account/example-7").Acquire(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer other.Release(ctx)

	api := middleware.RESTAPI()
	h, err := middleware.WrapHTTP(locks, api, api.PathParameter("id"),
		func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 201}, nil
		},
		middleware.WithNamespace("account"), middleware.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	resp, err := h(ctx, events.APIGatewayProxyRequest{HTTPMethod: "POST", PathParameters: map[string]string{"id": "example-7"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, resp.Headers["Content-Type"], "Retry-After:", resp.Headers["Retry-After"])
	fmt.Println(resp.Body)
	// Output:
	// 409 application/problem+json Retry-After: 11
	// {"type":"https://github.com/dynalock/dynalock#problem-lock-held","title":"Conflict","status":409,"detail":"another request for \"example-7\" is in progress; retry after 11 seconds"}
}

// A Kinesis function that applies one account's records at a time, in
// order: at the first record it cannot apply, the rest of the batch waits
// for Lambda to deliver it again from that record.
func ExampleWrapKinesis() {
	ctx := context.Background()
	h, err := middleware.WrapKinesis(newLockClient(ctx), middleware.KinesisPartitionKey(),
		func(ctx context.Context, r events.KinesisEventRecord) error {
			_ = r.Kinesis.Data // the record's JSON, already base64-decoded
			return nil
		},
		middleware.WithNamespace("account"))
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h)
}

// A DynamoDB Streams function keyed by the changed item's key attribute
// Sku: one change of an item at a time, in order.
func ExampleDynamoDBKeys() {
	ctx := context.Background()
	h, err := middleware.WrapDynamoDBStream(newLockClient(ctx), middleware.DynamoDBKeys("Sku"),
		func(ctx context.Context, r events.DynamoDBEventRecord) error { return nil },
		middleware.WithNamespace("sku"))
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h)
}
