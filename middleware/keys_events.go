package middleware

import (
	"context"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// SQSBodyPath returns a KeyFunc that evaluates the JMESPath expression
// expr over an SQS message's body, decoded as JSON: "sku" over
// {"orderId":"o-1","sku":"BLUE-MUG","quantity":2} gives "BLUE-MUG". A body
// that is not JSON fails the record. It fails, with an error matching
// lock.ErrInvalidInput, if expr does not compile.
func SQSBodyPath(expr string) (KeyFunc[events.SQSMessage], error) {
	p, err := compile(expr)
	if err != nil {
		return nil, err
	}
	return func(_ context.Context, m events.SQSMessage) ([]string, error) {
		return p.keys([]byte(m.Body), "body")
	}, nil
}

// SQSAttribute returns a KeyFunc that gives the string value of the SQS
// message attribute name (or each value of a string list).
func SQSAttribute(name string) KeyFunc[events.SQSMessage] {
	expr := "message attribute " + name
	return func(_ context.Context, m events.SQSMessage) ([]string, error) {
		a, ok := m.MessageAttributes[name]
		if !ok {
			return nil, keyError(expr, "missing", nil)
		}
		if a.StringValue != nil {
			return nonEmpty(expr, []string{*a.StringValue})
		}
		if len(a.StringListValues) > 0 {
			return nonEmpty(expr, a.StringListValues)
		}
		return nil, keyError(expr, "no string value (data type "+a.DataType+")", nil)
	}
}

// SQSMessageGroupID returns a KeyFunc that gives a FIFO message's
// MessageGroupId: one invocation at a time per group, across batches and
// functions.
func SQSMessageGroupID() KeyFunc[events.SQSMessage] {
	return func(_ context.Context, m events.SQSMessage) ([]string, error) {
		return nonEmpty("attribute MessageGroupId", []string{m.Attributes["MessageGroupId"]})
	}
}

// EventBridgeID returns a KeyFunc that gives an EventBridge event's id:
// duplicate deliveries of one event exclude each other.
func EventBridgeID() KeyFunc[events.EventBridgeEvent] {
	return func(_ context.Context, e events.EventBridgeEvent) ([]string, error) {
		return nonEmpty("id", []string{e.ID})
	}
}

// EventBridgeSourceDetailType returns a KeyFunc that gives an EventBridge
// event's source and detail-type as "source/detail-type": one invocation
// at a time per kind of event.
func EventBridgeSourceDetailType() KeyFunc[events.EventBridgeEvent] {
	return func(_ context.Context, e events.EventBridgeEvent) ([]string, error) {
		if strings.TrimSpace(e.Source) == "" || strings.TrimSpace(e.DetailType) == "" {
			return nil, keyError("source/detail-type", "empty source or detail-type", nil)
		}
		return []string{e.Source + "/" + e.DetailType}, nil
	}
}

// EventBridgeDetailPath returns a KeyFunc that evaluates the JMESPath
// expression expr over an EventBridge event's detail: "accountId" over
// {"accountId":"42","amount":10} gives "42". It fails, with an error
// matching lock.ErrInvalidInput, if expr does not compile.
func EventBridgeDetailPath(expr string) (KeyFunc[events.EventBridgeEvent], error) {
	p, err := compile(expr)
	if err != nil {
		return nil, err
	}
	return func(_ context.Context, e events.EventBridgeEvent) ([]string, error) {
		return p.keys(e.Detail, "detail")
	}, nil
}

// ScheduleARN returns a KeyFunc that gives the ARN of the rule or schedule
// that sent a scheduled event (its first resource), for singleton jobs: runs
// of one schedule exclude each other whichever attempt or execution they
// are.
func ScheduleARN() KeyFunc[events.EventBridgeEvent] {
	return func(_ context.Context, e events.EventBridgeEvent) ([]string, error) {
		if len(e.Resources) == 0 {
			return nil, keyError("resources[0]", "event names no schedule", nil)
		}
		return nonEmpty("resources[0]", e.Resources[:1])
	}
}

func nonEmpty(expr string, keys []string) ([]string, error) {
	for _, k := range keys {
		if strings.TrimSpace(k) == "" {
			return nil, keyError(expr, "empty value", nil)
		}
	}
	return append([]string(nil), keys...), nil
}
