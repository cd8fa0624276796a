package middleware_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/middleware"
)

// httpKeys returns every HTTP Key of api, with expr as the name of the
// path parameter, header and query parameter and as the body's JMESPath
// expression.
func httpKeys[Req, Resp any](api middleware.HTTP[Req, Resp], expr string) []middleware.Key[Req] {
	return []middleware.Key[Req]{api.PathParameter(expr), api.PathSegment(1), api.PathSegment(len(expr) - 3), api.Header(expr), api.Query(expr), api.Body(expr)}
}

func deriveAll[T any](t *testing.T, data []byte, fns func() []middleware.Key[T]) {
	var v T
	if json.Unmarshal(data, &v) != nil {
		return
	}
	for _, k := range fns() {
		derive(t, k, v)
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
		deriveAll(t, data, func() []middleware.Key[events.APIGatewayProxyRequest] {
			return httpKeys(middleware.RESTAPI(), expr)
		})
		deriveAll(t, data, func() []middleware.Key[events.APIGatewayV2HTTPRequest] {
			return httpKeys(middleware.HTTPAPI(), expr)
		})
		deriveAll(t, data, func() []middleware.Key[events.LambdaFunctionURLRequest] {
			return httpKeys(middleware.FunctionURL(), expr)
		})
		deriveAll(t, data, func() []middleware.Key[events.ALBTargetGroupRequest] { return httpKeys(middleware.ALB(), expr) })
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
			fns := []middleware.Key[events.KinesisEventRecord]{middleware.KinesisPartitionKey(), middleware.KinesisEventID(), middleware.KinesisData(expr)}
			for _, r := range kin.Records {
				for _, k := range fns {
					derive(t, k, r)
				}
			}
		}
		var ddb events.DynamoDBEvent
		if json.Unmarshal(data, &ddb) == nil {
			fns := []middleware.Key[events.DynamoDBEventRecord]{middleware.DynamoDBKeys(), middleware.DynamoDBKeys(expr), middleware.DynamoDBEventID()}
			for _, r := range ddb.Records {
				for _, k := range fns {
					derive(t, k, r)
				}
			}
		}
	})
}
