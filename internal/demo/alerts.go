package demo

import (
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/internal/appdata"
	"github.com/dynalock/dynalock/internal/stock"
)

// LowStockAlerts consumes the application table's stream. It is not in
// FunctionNames (the demo's load does not drive it yet): the e2e tests
// build and start it themselves.
const LowStockAlerts = "low-stock-alerts"

// StockChange returns the DynamoDB Streams record (view type
// NEW_AND_OLD_IMAGES) of sku's item going from Available before to after,
// with sequence number seq, as Lambda's poller would deliver it.
func StockChange(seq int, sku string, before, after int64) events.DynamoDBEventRecord {
	image := func(n int64) map[string]events.DynamoDBAttributeValue {
		return map[string]events.DynamoDBAttributeValue{
			appdata.PartitionKey: events.NewStringAttribute(stock.ID(sku)),
			"Available":          events.NewNumberAttribute(strconv.FormatInt(n, 10)),
		}
	}
	return events.DynamoDBEventRecord{
		EventID:        fmt.Sprintf("demo-%d", seq),
		EventName:      string(events.DynamoDBOperationTypeModify),
		EventVersion:   "1.1",
		EventSource:    "aws:dynamodb",
		AWSRegion:      "us-east-1",
		EventSourceArn: "arn:aws:dynamodb:us-east-1:123456789012:table/demo/stream/2026-11-25T00:00:00.000",
		Change: events.DynamoDBStreamRecord{
			Keys:           map[string]events.DynamoDBAttributeValue{appdata.PartitionKey: events.NewStringAttribute(stock.ID(sku))},
			NewImage:       image(after),
			OldImage:       image(before),
			SequenceNumber: fmt.Sprintf("112%020d", seq),
			StreamViewType: "NEW_AND_OLD_IMAGES",
		},
	}
}
