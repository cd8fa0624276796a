package middleware_test

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/dynalock/dynalock/middleware"
)

// A record whose SKU another invocation holds comes back about a second
// later instead of after the queue's visibility timeout. The function's
// role needs sqs:ChangeMessageVisibility and sqs:GetQueueAttributes on its
// queue, which an event source mapping's grant includes.
func ExampleWithVisibilityBackoff() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	h, err := middleware.WrapSQS(newLockClient(ctx), middleware.SQSBody("sku"),
		func(ctx context.Context, m events.SQSMessage) error { return nil },
		middleware.WithNamespace("sku"),
		middleware.WithVisibilityBackoff(sqs.NewFromConfig(cfg)))
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h)
}
