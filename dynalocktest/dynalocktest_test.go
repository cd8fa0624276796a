package dynalocktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/dynalocktest"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// TestWrappedHandlerInOneLine is what a user's test looks like: the
// wrapped SQS handler over the in-memory double in one line, then events.
func TestWrappedHandlerInOneLine(t *testing.T) {
	calls := 0
	h, err := middleware.WrapSQS(dynalocktest.NewClient(t, lock.Config{}), middleware.SQSBody("sku"),
		func(ctx context.Context, m events.SQSMessage) error { calls++; return nil },
		middleware.WithNamespace("sku"), middleware.WithIdempotency(middleware.SQSMessageID()),
		middleware.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: `{"sku":"MUG"}`}}}
	for range 2 { // a redelivery is answered from the stored completion
		resp, err := h(context.Background(), ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("got %v, %v; want no failures", resp, err)
		}
	}
	if calls != 1 {
		t.Errorf("the handler ran %d times for one message delivered twice, want 1", calls)
	}
}

// TestSharedDynamoDB: the lock client and the application's client on one
// double, so that a lease's transaction writes the application's item.
func TestSharedDynamoDB(t *testing.T) {
	ctx := context.Background()
	db := dynalocktest.DynamoDB(t)
	if err := createStockTable(ctx, db); err != nil {
		t.Fatal(err)
	}
	locks := dynalocktest.NewClient(t, lock.Config{DynamoDB: db})
	err := locks.Lock("sku/MUG").Do(ctx, func(ctx context.Context) error {
		return reserve(ctx, events.SQSMessage{Body: `{"sku":"MUG"}`})
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("stock"),
		Key: map[string]types.AttributeValue{"sku": &types.AttributeValueMemberS{Value: "MUG"}}})
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := out.Item["reserved"].(*types.AttributeValueMemberN); !ok || n.Value != "1" {
		t.Errorf("stock item %v, want reserved 1", out.Item)
	}
}

// TestNewClientRefusesAClientWithoutTables: a cfg.DynamoDB that cannot
// create tables fails the test with a message, rather than a later panic.
func TestNewClientRefusesAClientWithoutTables(t *testing.T) {
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { _ = recover() }()
		dynalocktest.NewClient(ft, lock.Config{DynamoDB: onlyLockAPI{}})
	}()
	if ft.msg == "" {
		t.Error("NewClient accepted a DynamoDB client that cannot create the table")
	}
}

type onlyLockAPI struct{ lock.DynamoDBAPI }

// fatalRecorder records Fatalf instead of stopping the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = format
	panic(errors.New("fatal"))
}
