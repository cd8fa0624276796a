package middleware

import (
	"context"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// SQSBody returns a Key that evaluates the JMESPath expression expr over
// an SQS message's body, decoded as JSON: "sku" over
// {"orderId":"o-1","sku":"BLUE-MUG","quantity":2} gives "BLUE-MUG". A body
// that is not JSON fails the record.
func SQSBody(expr string) Key[events.SQSMessage] {
	return pathKey(expr, "body", func(m events.SQSMessage) ([]byte, error) { return []byte(m.Body), nil })
}

// SQSMessageGroupID returns a Key that gives a FIFO message's
// MessageGroupId: one invocation at a time per group, across batches and
// functions.
func SQSMessageGroupID() Key[events.SQSMessage] {
	return KeyFunc("attribute MessageGroupId", func(_ context.Context, m events.SQSMessage) ([]string, error) {
		return nonEmpty("attribute MessageGroupId", []string{m.Attributes["MessageGroupId"]})
	})
}

// EventBridgeID returns a Key that gives an EventBridge event's id: the
// same in every delivery of one event, for WithIdempotency.
func EventBridgeID() Key[events.EventBridgeEvent] {
	return KeyFunc("id", func(_ context.Context, e events.EventBridgeEvent) ([]string, error) {
		return nonEmpty("id", []string{e.ID})
	})
}

// EventBridgeDetail returns a Key that evaluates the JMESPath expression
// expr over an EventBridge event's detail: "accountId" over
// {"accountId":"42","amount":10} gives "42".
func EventBridgeDetail(expr string) Key[events.EventBridgeEvent] {
	return pathKey(expr, "detail", func(e events.EventBridgeEvent) ([]byte, error) { return e.Detail, nil })
}

func nonEmpty(expr string, keys []string) ([]string, error) {
	for _, k := range keys {
		if strings.TrimSpace(k) == "" {
			return nil, keyError(expr, "empty value", nil)
		}
	}
	return append([]string(nil), keys...), nil
}
