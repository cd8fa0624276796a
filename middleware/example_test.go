package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// newLockClient is what a function's main does first.
func newLockClient(ctx context.Context) *lock.Client {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	c, err := lock.NewClient(ctx, lock.Config{TableName: os.Getenv("LOCK_TABLE"), DynamoDB: dynamodb.NewFromConfig(cfg)})
	if err != nil {
		log.Fatal(err)
	}
	return c
}

type reservation struct {
	OrderID  string `json:"orderId"`
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// An SQS-triggered function that handles one SKU at a time: records of
// other SKUs run concurrently, records of one SKU one after the other, and
// records whose SKU is locked elsewhere go back to the queue.
func ExampleWrapSQS() {
	ctx := context.Background()
	h, err := middleware.WrapSQS(newLockClient(ctx), middleware.SQSBody("sku"),
		func(ctx context.Context, m events.SQSMessage) error {
			var r reservation
			if err := json.Unmarshal([]byte(m.Body), &r); err != nil {
				return err
			}
			lease, _ := lock.FromContext(ctx)
			_ = lease.FencingToken() // guard the stock write with it
			return nil
		},
		middleware.WithNamespace("sku")) // lock IDs "sku/BLUE-MUG"
	if err != nil {
		log.Fatal(err) // a configuration error, at start-up
	}
	lambda.Start(h)
}

// An EventBridge-triggered function that handles one account at a time,
// waiting for a lock that another invocation holds.
func ExampleWrap_eventBridge() {
	ctx := context.Background()
	h, err := middleware.Wrap(newLockClient(ctx), middleware.EventBridgeDetail("accountId"),
		func(ctx context.Context, e events.EventBridgeEvent) (struct{}, error) {
			return struct{}{}, nil
		},
		middleware.WithNamespace("account"),
		middleware.WithOnHeld(middleware.Wait))
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h)
}

// An EventBridge-triggered function whose handler returns only an error,
// the commonest shape: one invocation at a time per account.
func ExampleWrapNoOutput() {
	ctx := context.Background()
	h, err := middleware.WrapNoOutput(newLockClient(ctx), middleware.EventBridgeDetail("accountId"),
		func(ctx context.Context, e events.EventBridgeEvent) error {
			lease, _ := lock.FromContext(ctx)
			_ = lease.FencingToken() // guard the account's write with it
			return nil
		},
		middleware.WithNamespace("account"),
		middleware.WithOnHeld(middleware.Wait))
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h)
}

// Two functions that write the same accounts: one applies payments from
// an SQS queue, the other handles EventBridge account events. Both pass
// WithNamespace("account"), so both lock "account/<id>" and exclude each
// other on one account whatever their triggers. (With a namespace each,
// such as their own names, they would take different locks and not
// exclude each other at all.)
func ExampleWithNamespace() {
	ctx := context.Background()
	locks := newLockClient(ctx)
	quiet := middleware.WithLogger(slog.New(slog.DiscardHandler))

	accountEvents, err := middleware.WrapNoOutput(locks, middleware.EventBridgeDetail("accountId"),
		func(ctx context.Context, e events.EventBridgeEvent) error {
			lease, _ := lock.FromContext(ctx)
			fmt.Println("account-events: handling", e.DetailType, "under", lease.LockID())
			return nil
		},
		middleware.WithNamespace("account"), quiet)
	if err != nil {
		log.Fatal(err)
	}
	credited := events.EventBridgeEvent{ID: "event-1", DetailType: "AccountCredited", Detail: json.RawMessage(`{"accountId":"42"}`)}

	payments, err := middleware.WrapSQS(locks, middleware.SQSBody("accountId"),
		func(ctx context.Context, m events.SQSMessage) error {
			lease, _ := lock.FromContext(ctx)
			fmt.Println("payments: applying", m.MessageId, "under", lease.LockID())
			// Meanwhile, an event on the same account reaches the other
			// function, whose default policy (Fail) has it retried later.
			err := accountEvents(context.Background(), credited)
			fmt.Println("account-events meanwhile, lock held:", errors.Is(err, lock.ErrLockAlreadyAcquired))
			return nil
		},
		middleware.WithNamespace("account"), quiet)
	if err != nil {
		log.Fatal(err)
	}

	resp, err := payments(ctx, events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "payment-1", Body: `{"accountId":"42","amount":10}`},
	}})
	fmt.Println("payments: failed records:", len(resp.BatchItemFailures), err)
	fmt.Println("account-events, retried:", accountEvents(ctx, credited))
	// Output:
	// payments: applying payment-1 under account/42
	// account-events meanwhile, lock held: true
	// payments: failed records: 0 <nil>
	// account-events: handling AccountCredited under account/42
	// account-events, retried: <nil>
}

// A scheduled singleton job: a run that overlaps the previous one is
// skipped.
func ExampleWrap_schedule() {
	ctx := context.Background()
	h, err := middleware.Wrap(newLockClient(ctx), middleware.Constant[events.EventBridgeEvent]("nightly-rollup"),
		func(ctx context.Context, e events.EventBridgeEvent) (string, error) {
			return "rolled up", nil
		},
		middleware.WithNamespace("job"),
		middleware.WithOnHeld(middleware.Skip),
		middleware.WithMetrics(os.Stdout))
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h)
}

// Any JSON event, keyed by a JMESPath expression that names several keys:
// both accounts of a transfer are locked, all or none.
func ExampleJMESPath() {
	ctx := context.Background()
	type transfer struct {
		From   string `json:"from"`
		To     string `json:"to"`
		Amount int    `json:"amount"`
	}
	h, err := middleware.Wrap(newLockClient(ctx), middleware.JMESPath[transfer]("[from, to]"),
		func(ctx context.Context, t transfer) (int, error) {
			return t.Amount, nil
		},
		middleware.WithNamespace("account"))
	if err != nil {
		log.Fatal(err) // also an expression that does not compile
	}
	lambda.Start(h)
}

// A key from any Go function.
func ExampleKeyFunc() {
	ctx := context.Background()
	byTenant := middleware.KeyFunc("tenant header", func(_ context.Context, e events.APIGatewayProxyRequest) ([]string, error) {
		if t := e.Headers["x-tenant"]; t != "" {
			return []string{t}, nil
		}
		return nil, fmt.Errorf("%w: no x-tenant header", middleware.ErrNoKey)
	})
	h, err := middleware.Wrap(newLockClient(ctx), byTenant,
		func(ctx context.Context, e events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		},
		middleware.WithNamespace("tenant"))
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h)
}
