package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// httpKeys returns every HTTP key function of api, with expr as the name
// of the path parameter, header and query parameter and as the body's
// JMESPath expression (when it compiles).
func httpKeys[Req, Resp any](t *testing.T, api middleware.HTTP[Req, Resp], expr string) []middleware.KeyFunc[Req] {
	fns := []middleware.KeyFunc[Req]{api.PathParameter(expr), api.PathSegment(1), api.PathSegment(len(expr) - 3), api.Header(expr), api.Query(expr)}
	if k, err := api.BodyPath(expr); err == nil {
		fns = append(fns, k)
	} else if !errors.Is(err, lock.ErrInvalidInput) {
		t.Fatalf("BodyPath(%q): error %v does not match lock.ErrInvalidInput", expr, err)
	}
	return fns
}

func deriveAll[T any](t *testing.T, data []byte, fns func() []middleware.KeyFunc[T]) {
	var v T
	if json.Unmarshal(data, &v) != nil {
		return
	}
	for _, k := range fns() {
		keys, err := k(context.Background(), v)
		checkDerived(t, keys, err)
	}
}

// FuzzHTTPKeys decodes a request of each HTTP trigger and derives its keys
// every way there is.
func FuzzHTTPKeys(f *testing.F) {
	seedEvents(f, "id", "transferId", "Idempotency-Key", "note", "[transferId, amount]", "amount")
	f.Fuzz(func(t *testing.T, data []byte, expr string) {
		if len(data) > maxFuzzInput {
			return
		}
		deriveAll(t, data, func() []middleware.KeyFunc[events.APIGatewayProxyRequest] {
			return httpKeys(t, middleware.RESTAPI(), expr)
		})
		deriveAll(t, data, func() []middleware.KeyFunc[events.APIGatewayV2HTTPRequest] {
			return httpKeys(t, middleware.HTTPAPI(), expr)
		})
		deriveAll(t, data, func() []middleware.KeyFunc[events.LambdaFunctionURLRequest] {
			return httpKeys(t, middleware.FunctionURL(), expr)
		})
		deriveAll(t, data, func() []middleware.KeyFunc[events.ALBTargetGroupRequest] { return httpKeys(t, middleware.ALB(), expr) })
	})
}

// FuzzStreamKeys decodes Kinesis and DynamoDB Streams batches and derives
// each record's keys every way there is.
func FuzzStreamKeys(f *testing.F) {
	seedEvents(f, "accountId", "Id", "Balance", "[accountId, transactionId]", "amount")
	f.Fuzz(func(t *testing.T, data []byte, expr string) {
		if len(data) > maxFuzzInput {
			return
		}
		var kin events.KinesisEvent
		if json.Unmarshal(data, &kin) == nil {
			fns := []middleware.KeyFunc[events.KinesisEventRecord]{middleware.KinesisPartitionKey()}
			if k, err := middleware.KinesisDataPath(expr); err == nil {
				fns = append(fns, k)
			}
			for _, r := range kin.Records {
				for _, k := range fns {
					keys, err := k(context.Background(), r)
					checkDerived(t, keys, err)
				}
			}
		}
		var ddb events.DynamoDBEvent
		if json.Unmarshal(data, &ddb) == nil {
			fns := []middleware.KeyFunc[events.DynamoDBEventRecord]{middleware.DynamoDBKeys(), middleware.DynamoDBKeys(expr)}
			if k, err := middleware.DynamoDBImagePath(expr); err == nil {
				fns = append(fns, k)
			}
			for _, r := range ddb.Records {
				for _, k := range fns {
					keys, err := k(context.Background(), r)
					checkDerived(t, keys, err)
				}
			}
		}
	})
}
