package middleware_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// An EventBridge event delivered three times (EventBridge delivers at
// least once): its handler runs once, and the duplicates get the first
// run's output from the lock table without running it.
func ExampleWithIdempotency() {
	ctx := context.Background()
	runs := 0
	h, err := middleware.Wrap(newLockClient(ctx), middleware.EventBridgeDetail("accountId"),
		func(ctx context.Context, e events.EventBridgeEvent) (string, error) {
			runs++
			return fmt.Sprintf("credited by run %d", runs), nil
		},
		middleware.WithNamespace("account"),
		middleware.WithIdempotency(middleware.EventBridgeID()),
		middleware.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}

	event := events.EventBridgeEvent{ID: "event-" + rand.Text(), DetailType: "AccountCredited",
		Detail: json.RawMessage(`{"accountId":"42","amount":10}`)}
	for range 3 {
		out, err := h(ctx, event)
		fmt.Println(out, err)
	}
	event.Detail = json.RawMessage(`{"accountId":"42","amount":1000}`) // the same ID, another payload
	_, err = h(ctx, event)
	fmt.Println("runs:", runs, "reused key:", errors.Is(err, lock.ErrPayloadMismatch))
	// Output:
	// credited by run 1 <nil>
	// credited by run 1 <nil>
	// credited by run 1 <nil>
	// runs: 1 reused key: true
}

// An SQS function that reserves each order once: the stock update, the
// order's completion and the release of the SKU's lock are one DynamoDB
// transaction (the lease's Complete), so a redelivered order, even one
// whose first attempt crashed after the write, never takes stock twice.
// The update needs no fencing-token attribute: the transaction checks that
// the SKU's lease still holds.
func ExampleWithIdempotency_complete() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	stock := "stock-" + rand.Text()
	if err := createStockTable(ctx, db, stock); err != nil {
		log.Fatal(err)
	}
	reserve, err := middleware.WrapSQS(newLockClient(ctx), middleware.SQSBody("sku"),
		func(ctx context.Context, m events.SQSMessage) error {
			var r reservation
			if err := json.Unmarshal([]byte(m.Body), &r); err != nil {
				return err
			}
			lease, _ := lock.FromContext(ctx) // the SKU's lock and the order's claim
			return lease.Complete(ctx, nil, types.TransactWriteItem{Update: &types.Update{
				TableName:                 aws.String(stock),
				Key:                       map[string]types.AttributeValue{"Id": &types.AttributeValueMemberS{Value: r.SKU}},
				UpdateExpression:          aws.String("ADD Reserved :q"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":q": &types.AttributeValueMemberN{Value: fmt.Sprint(r.Quantity)}},
			}})
		},
		middleware.WithNamespace("sku"),
		middleware.WithIdempotency(middleware.SQSBody("orderId")), // the body is the payload checked
		middleware.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}

	order := events.SQSMessage{MessageId: "m-1", Body: `{"orderId":"o-` + rand.Text() + `","sku":"BLUE-MUG","quantity":2}`}
	for range 3 { // one order, delivered three times
		resp, err := reserve(ctx, events.SQSEvent{Records: []events.SQSMessage{order}})
		fmt.Println("failed records:", len(resp.BatchItemFailures), err)
	}
	item, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(stock), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"Id": &types.AttributeValueMemberS{Value: "BLUE-MUG"}}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("reserved:", item.Item["Reserved"].(*types.AttributeValueMemberN).Value)
	// Output:
	// failed records: 0 <nil>
	// failed records: 0 <nil>
	// failed records: 0 <nil>
	// reserved: 2
}

func createStockTable(ctx context.Context, db *dynamodb.Client, name string) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("Id"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("Id"), AttributeType: types.ScalarAttributeTypeS}},
	})
	return err
}

// A function that must not run an event twice but whose effects are not
// DynamoDB writes (an email, a payment provider's API): the completion
// follows the effect, so a crash between them runs the effect again on
// retry: at least once. Pass the event's key on to the provider as its
// own idempotency key where it takes one.
func ExampleWithIdempotency_effectsOutsideDynamoDB() {
	ctx := context.Background()
	h, err := middleware.WrapSQS(newLockClient(ctx), middleware.JMESPath[events.SQSMessage]("messageAttributes.customer.stringValue"),
		func(ctx context.Context, e events.SQSMessage) error {
			return sendReceipt(ctx, e.MessageId) // the provider deduplicates on it
		},
		middleware.WithNamespace("customer"),
		middleware.WithIdempotency(middleware.SQSMessageID()))
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h)
}

func sendReceipt(context.Context, string) error { return nil }
