package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/internal/claimid"
	"github.com/dynalock/dynalock/lock"
)

// ErrResultTooLarge means a handler's output, as JSON, is larger than the
// lock.MaxResultBytes a completion can store (WithIdempotency). The event
// fails, and its claim is released; return a reference to the result
// (where it is stored) instead.
var ErrResultTooLarge = errors.New("middleware: handler output too large to store as the event's result")

// errNoResult means a duplicate of a completed event found no stored
// result to answer with: the first handler completed the event in its own
// transaction, and its output could not be stored after it. The event's
// effects were applied; only its answer is missing.
var errNoResult = errors.New("middleware: event completed, but its result was not stored")

// claimPrefix starts the key part of every idempotency claim's lock ID:
// namespace + "/" + claimPrefix + hex SHA-256. Entity keys may not start
// with it, so that no entity lock is ever a claim.
const claimPrefix = "idempotency#"

// idempotency is the configuration of WithIdempotency. key is a Key of
// the event type keyType; the wrapper checks that it is its own.
type idempotency struct {
	key     any
	keyType reflect.Type
	keyErr  error  // the key's own configuration error
	scope   string // the function's name: two functions never share a claim
	off     bool   // turned off by the environment (POWERTOOLS_IDEMPOTENCY_DISABLED)
}

// WithIdempotency makes a wrapper run each event's handler once per
// idempotency key, however often the event is delivered: key derives the
// key (SQSMessageID, EventBridgeID, SQSBody("orderId"),
// EventBridgeDetail("transactionId"), an HTTP trigger's
// Header("Idempotency-Key"), KinesisEventID, DynamoDBEventID or any Key;
// several keys make one key, in their order, whatever bytes they hold).
// Every wrapper honours it. T must be the wrapper's event type: TIn for
// Wrap and WrapNoOutput, events.SQSMessage for WrapSQS, the request type
// for WrapHTTP, and the record type, events.KinesisEventRecord or
// events.DynamoDBEventRecord, for WrapKinesis and WrapDynamoDBStream;
// another is refused when the wrapper is built.
//
// The key is hashed (SHA-256), with the function's name
// (AWS_LAMBDA_FUNCTION_NAME, so that two functions given one event each do
// their own work once), into a claim: a lock ID under the wrapper's
// namespace, namespace + "/idempotency#<hex>", so a grant on the
// namespace's lock IDs covers it. For operators (the dynalock CLI's
// idempotency commands), the claim's lock metadata also records the
// function's name, what the key reads and the keys themselves, each cut
// to 64 bytes: use identifiers, not secrets, as keys. Each event claims
// it beside its entity locks, in one round trip (lock.Client.Claim sent
// at the same time as the entity locks' acquire):
//
//   - a new event runs the handler. When the handler succeeds, the claim
//     is completed with its result and the entity locks are released, in
//     one step (lock.Lease.Complete). When the handler fails or panics, the
//     claim is released, not completed, so a retry runs the handler again;
//   - a duplicate of a completed event does not run the handler: Wrap
//     returns the stored output (decoded from its JSON), WrapNoOutput nil,
//     WrapSQS, WrapKinesis and WrapDynamoDBStream acknowledge the record
//     (a stream's batch goes on past it), and WrapHTTP answers with the
//     stored response, marked Idempotent-Replayed (see WrapHTTP for its
//     status codes and which responses it stores). The EMF metric
//     Duplicates counts these;
//   - a duplicate in progress finds the claim held, and the held policy
//     applies as for a held lock (Fail, Skip, Wait; WrapHTTP answers 409);
//   - the key used again for another payload fails with an error matching
//     lock.ErrPayloadMismatch (WrapHTTP: 422), without running the handler:
//     the payload is an SQS message's body, an EventBridge event's detail,
//     a Kinesis record's data, a DynamoDB Streams record's change (its
//     name, keys and images), an HTTP request's method, path, query and
//     body, and the whole event otherwise (its deliveries are identical).
//
// Of deliveries of one event that overlap, the one granted the claim runs,
// under every policy; the others are duplicates in progress. Sent at
// once, the claim and the entity locks can go one to each of two
// deliveries: the one that lost the claim lets go of its entity locks at
// once, and the claim's holder, which recognises them (the middleware
// names the event's claim in its entity locks' metadata, entry
// "dynalock.claim"), tries them again instead of being refused, for at
// most twice the release bound and within its time; past that (the other
// delivery crashed, or its release failed) its event fails with an error
// that is not lock.ErrLockAlreadyAcquired, so that it comes back, even
// under Skip.
//
// What is promised: when the handler makes its DynamoDB effects with
// lock.Lease.Complete (the lease from lock.FromContext), the effects and
// the completion are one transaction, so they happen once, together, or
// not at all. Otherwise (or for effects outside DynamoDB: email, HTTP
// calls, other stores) the completion follows the effects, and a handler
// that dies or fails between them runs again on retry: such effects are
// at-least-once, and must be fenced (lock.Lease.FencingToken) or
// idempotent themselves. A completion answers duplicates for the lock
// client's Config.CompletionExpiry (24 hours by default), decided from the
// stored time. An event from which key derives no key fails with an error
// matching ErrNoKey: an empty key is never hashed into a record shared by
// every such event. WithDisabled turns idempotency off too, and so does
// the environment variable POWERTOOLS_IDEMPOTENCY_DISABLED set to true
// when the wrapper is built (Powertools' switch for local runs; the entity
// locks stay on, and a warning is logged).
func WithIdempotency[T any](key Key[T]) Option {
	return func(o *options) {
		id := &idempotency{keyType: reflect.TypeFor[T](), scope: os.Getenv("AWS_LAMBDA_FUNCTION_NAME")}
		if key.given() {
			id.key, id.keyErr = key, key.err
		}
		o.idem = id
	}
}

// SQSMessageID returns a Key that gives an SQS message's ID, which SQS
// keeps across redeliveries of one message (a message sent twice has two).
func SQSMessageID() Key[events.SQSMessage] {
	return KeyFunc("messageId", func(_ context.Context, m events.SQSMessage) ([]string, error) {
		return nonEmpty("messageId", []string{m.MessageId})
	})
}

// validate reports an idempotency configuration that cannot work for a
// wrapper of events of type want.
func (id *idempotency) validate(want reflect.Type) error {
	switch {
	case id.keyErr != nil:
		return fmt.Errorf("WithIdempotency: %w", id.keyErr)
	case id.key == nil:
		return fmt.Errorf("%w: WithIdempotency: no key: pass a Key (SQSMessageID, EventBridgeID, Header…), not its zero value", lock.ErrInvalidInput)
	case id.keyType != want:
		return fmt.Errorf("%w: WithIdempotency: a key of %s events given to a wrapper of %s events", lock.ErrInvalidInput, id.keyType, want)
	}
	return nil
}

// claimSpec is one event's idempotency claim.
type claimSpec struct {
	id      string // the claim's lock ID
	payload []byte // what a duplicate must match
	// keyed is how the claim was keyed, stored in its lock metadata for
	// operators (claimid.Keyed).
	keyed map[string]string
	// result returns the JSON to store once the handler succeeded; nil
	// stores none.
	result func() ([]byte, error)
}

// claimFor derives event's claim: nil when the wrapper has no idempotency
// (or runs disabled). An event without a key is a *keyErr naming its ID.
func claimFor[T any](ctx context.Context, inv *invoker, event T, log *slog.Logger) (*claimSpec, error) {
	id := inv.o.idem
	if id == nil || inv.o.disabled || id.off {
		return nil, nil
	}
	key, _ := id.key.(Key[T]) // checked when the wrapper was made
	ks, err := callKey(ctx, key, event, log)
	if err == nil && len(ks) == 0 {
		err = keyError(key.describe(), "no keys", nil)
	}
	for _, k := range ks {
		if err == nil && strings.TrimSpace(k) == "" {
			err = keyError(key.describe(), "empty key", nil)
		}
	}
	if err != nil {
		ke := withEventID(err, key.describe(), eventID(ctx, event))
		ke.Reason = "idempotency key: " + ke.Reason
		return nil, ke
	}
	spec := &claimSpec{id: claimid.ID(inv.o.namespace, id.scope, ks...), keyed: claimid.Keyed(id.scope, key.describe(), ks)}
	if spec.payload, err = payloadOf(event); err != nil {
		return nil, withEventID(keyError("the payload", "event cannot be encoded as JSON", err), "the payload", eventID(ctx, event))
	}
	return spec, nil
}

// payloadOf returns what every delivery of event has in common, for the
// claim's payload check: an SQS message's body (its attributes change from
// one receive to the next), an EventBridge event's detail (an event
// published again, by a producer's retry, has a new ID and time but the
// same detail), a Kinesis record's data and a DynamoDB Streams record's
// change (a producer's retry is another record, with another sequence
// number, of the same data), and the whole event's JSON otherwise. WrapHTTP
// replaces it with the request's fingerprint.
func payloadOf(event any) ([]byte, error) {
	switch e := event.(type) {
	case events.SQSMessage:
		return []byte(e.Body), nil
	case events.EventBridgeEvent:
		return e.Detail, nil
	case events.KinesisEventRecord:
		return e.Kinesis.Data, nil
	case events.DynamoDBEventRecord:
		return json.Marshal(struct {
			Name     string                                   `json:"eventName"`
			Keys     map[string]events.DynamoDBAttributeValue `json:"keys"`
			NewImage map[string]events.DynamoDBAttributeValue `json:"newImage,omitempty"`
			OldImage map[string]events.DynamoDBAttributeValue `json:"oldImage,omitempty"`
		}{e.EventName, e.Change.Keys, e.Change.NewImage, e.Change.OldImage})
	}
	return json.Marshal(event)
}
