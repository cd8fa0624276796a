package memddb

import (
	"encoding/json"
	"fmt"
)

// Error is an error response as DynamoDB sends it: HTTP 400 with a JSON
// body whose __type names the exception, and the exception's own members.
type Error struct {
	Type    string // the exception's short name, such as ValidationException
	Message string
	// Item is ConditionalCheckFailedException's old item, sent when the
	// request asked for it (ReturnValuesOnConditionCheckFailure ALL_OLD).
	Item Item
	// Reasons are TransactionCanceledException's, one per action.
	Reasons []Reason
}

// Reason is one action's outcome in a cancelled transaction.
type Reason struct {
	Code    string `json:"Code"`
	Message string `json:"Message,omitempty"`
	Item    Item   `json:"Item,omitempty"`
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// namespace prefixes the exception types, as DynamoDB writes them.
const namespace = "com.amazonaws.dynamodb.v20120810#"

// body is the JSON error body.
func (e *Error) body() []byte {
	m := map[string]any{"__type": namespace + e.Type, "message": e.Message}
	if e.Type == "ValidationException" {
		m["__type"] = "com.amazon.coral.validate#ValidationException"
	}
	if e.Item != nil {
		m["Item"] = e.Item
	}
	if e.Reasons != nil {
		m["CancellationReasons"] = e.Reasons
		m["Message"] = e.Message
		delete(m, "message")
	}
	b, _ := json.Marshal(m)
	return b
}

func validation(format string, args ...any) *Error {
	return &Error{Type: "ValidationException", Message: fmt.Sprintf(format, args...)}
}

func notFound() *Error {
	return &Error{Type: "ResourceNotFoundException", Message: "Cannot do operations on a non-existent table"}
}

func conditionFailed(old Item) *Error {
	return &Error{Type: "ConditionalCheckFailedException", Message: "The conditional request failed", Item: old}
}
