package dynalocktest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/dynalocktest"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// A lock on the in-memory DynamoDB, outside a test function. In a test,
// dynalocktest.NewClient(t, lock.Config{}) does all of this in one line.
func ExampleNewServer() {
	srv, err := dynalocktest.NewServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ctx := context.Background()
	if err := admin.CreateTable(ctx, srv.Client(), "locks"); err != nil {
		fmt.Println(err)
		return
	}
	locks, err := lock.NewClient(ctx, lock.Config{TableName: "locks", DynamoDB: srv.Client()})
	if err != nil {
		fmt.Println(err)
		return
	}
	lease, err := locks.Lock("account/42").Acquire(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = locks.Lock("account/42").Acquire(ctx)
	fmt.Println("second acquire refused:", errors.Is(err, lock.ErrLockAlreadyAcquired))
	fmt.Println("release:", lease.Release(ctx))
	// Output:
	// second acquire refused: true
	// release: <nil>
}

// A wrapped SQS handler that writes to the application's own table in the
// lock's transaction, run on one in-memory DynamoDB: the record of a SKU
// that another process holds is reported as a batch item failure.
func ExampleServer_Client() {
	ctx := context.Background()
	srv, err := dynalocktest.NewServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	db := srv.Client()
	if err := createStockTable(ctx, db); err != nil {
		fmt.Println(err)
		return
	}
	if err := admin.CreateTable(ctx, db, "locks"); err != nil {
		fmt.Println(err)
		return
	}
	locks, err := lock.NewClient(ctx, lock.Config{TableName: "locks", DynamoDB: db})
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := middleware.WrapSQS(locks, middleware.SQSBody("sku"), reserve,
		middleware.WithNamespace("sku"), middleware.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	other, err := locks.Lock("sku/TEAPOT").Acquire(ctx) // held elsewhere
	if err != nil {
		fmt.Println(err)
		return
	}
	defer other.Release(ctx)
	resp, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: `{"sku":"MUG"}`},
		{MessageId: "m2", Body: `{"sku":"TEAPOT"}`},
	}})
	fmt.Println(resp.BatchItemFailures, err)
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("stock"),
		Key: map[string]types.AttributeValue{"sku": &types.AttributeValueMemberS{Value: "MUG"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("MUG reserved:", out.Item["reserved"].(*types.AttributeValueMemberN).Value)
	// Output:
	// [{m2}] <nil>
	// MUG reserved: 1
}

// reserve is the handler under test: it counts a reservation of the
// record's SKU, in the same transaction as the lock's check.
func reserve(ctx context.Context, m events.SQSMessage) error {
	lease, _ := lock.FromContext(ctx)
	var sku struct {
		SKU string `json:"sku"`
	}
	if err := jsonUnmarshal(m.Body, &sku); err != nil {
		return err
	}
	return lease.Write(ctx, types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String("stock"),
		Key:                       map[string]types.AttributeValue{"sku": &types.AttributeValueMemberS{Value: sku.SKU}},
		UpdateExpression:          aws.String("ADD reserved :one"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
	}})
}

// createStockTable creates the application's table, keyed by sku.
func createStockTable(ctx context.Context, db *dynamodb.Client) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("stock"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("sku"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("sku"), KeyType: types.KeyTypeHash}},
	})
	return err
}
