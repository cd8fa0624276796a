package middleware

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
)

// Errors of idempotent handlers (WithIdempotency).
var (
	// ErrPayloadMismatch means an event's idempotency key was used before
	// for an event with another payload (ValidatePayload): the key was
	// reused for different work. The handler does not run. It is
	// lock.ErrPayloadMismatch.
	ErrPayloadMismatch = lock.ErrPayloadMismatch

	// ErrResultTooLarge means a handler's output, as JSON, is larger than
	// the lock.MaxResultBytes a completion can store. The event fails;
	// return a reference to the result (where it is stored) instead, or
	// pass WithoutResults.
	ErrResultTooLarge = errors.New("middleware: handler output too large to store as the event's result")

	// ErrNoResult means a duplicate of a completed event found no stored
	// result to answer with: the first handler's output could not be
	// stored after its Write completed the event (see Write). The event's
	// effects were applied; only its answer is missing.
	ErrNoResult = errors.New("middleware: event completed, but its result was not stored")
)

// claimPrefix starts the key part of every idempotency claim's lock ID:
// namespace + "/" + claimPrefix + hex SHA-256.
const claimPrefix = "idempotency#"

// IdempotencyOption configures WithIdempotency.
type IdempotencyOption func(*idempotency)

// idempotency is the configuration of WithIdempotency. key is a KeyFunc of
// the event type keyType; the wrapper checks that it is its own.
type idempotency struct {
	key           any
	keyType       reflect.Type
	payload       *path // nil: no payload validation
	payloadErr    error // ValidatePayload's expression did not compile
	runWithoutKey bool
	noResults     bool
	expiry        time.Duration // 0: the lock's default
	scope         string
}

// WithIdempotency makes a wrapper run each event's handler once per
// idempotency key, however often the event is delivered: key derives the
// key (SQSMessageID, EventBridgeID, SQSBodyPath("orderId"),
// EventBridgeDetailPath("transactionId"), an HTTP trigger's
// Header("Idempotency-Key"), KinesisEventID, DynamoDBEventID or any
// KeyFunc; several keys make one key, in their order, whatever bytes they
// hold: see ClaimID). Every wrapper honours it. T
// must be the wrapper's event type: TIn for Wrap and WrapNoOutput,
// events.SQSMessage for WrapSQS, the request type for WrapHTTP, and the
// record type, events.KinesisEventRecord or events.DynamoDBEventRecord,
// for WrapKinesis and WrapDynamoDBStream; another is a configuration
// error, returned by every call.
//
// The key is hashed (SHA-256) into a claim: a lock ID under the wrapper's
// namespace, namespace + "/idempotency#<hex>", so a grant on the
// namespace's lock IDs covers it. Each event claims it beside its entity
// locks, in one round trip (lock.Client.Claim sent at the same time as
// AcquireAll):
//
//   - a new event runs the handler. When the handler succeeds, the claim
//     is completed (lock.Lease.Complete: one write that stores the result
//     and releases the claim), unless the handler's Write completed it in
//     its own transaction; the entity locks are released as always. When
//     the handler fails or panics, the claim is released, not completed,
//     so a retry runs the handler again;
//   - a duplicate of a completed event does not run the handler: Wrap
//     returns the stored output (decoded from its JSON), WrapNoOutput nil,
//     WrapSQS, WrapKinesis and WrapDynamoDBStream acknowledge the record
//     (a stream's batch goes on past it), and WrapHTTP answers with the
//     stored response, marked Idempotent-Replayed (see WrapHTTP for its
//     status codes and which responses it stores). The EMF metric
//     Duplicates counts these;
//   - a duplicate in progress finds the claim held, and the OnHeld policy
//     applies as for a held lock (Fail, Skip, Wait; WrapHTTP answers 409).
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
// under Skip. An entity lock held by another event is a held lock, as
// always. A new event keeps its one round trip; the race costs its winner
// the milliseconds until the loser's release lands, and a duplicate that
// waits (Wait) for a claim held tries the claim alone.
//
// What is promised: with Write, the handler's DynamoDB effects and the
// completion are one transaction, so they happen once, together, or not
// at all. Without it (or for effects outside DynamoDB: email, HTTP calls,
// other stores) the completion follows the effects, and a handler that
// dies or fails between them runs again on retry: such effects are
// at-least-once, and must be fenced (lock.Lease.FencingToken) or
// idempotent themselves. A completion answers duplicates for 24 hours
// (lock.DefaultCompletionExpiry; CompletionExpiry), decided from the
// stored time. An event from which key derives no key fails with an
// error matching ErrNoKey (RunWithoutIdempotencyKey runs it without
// idempotency, with a warning): an empty key is never hashed into a
// record shared by every such event. WithDisabled turns idempotency off
// too.
func WithIdempotency[T any](key KeyFunc[T], opts ...IdempotencyOption) Option {
	return func(o *options) {
		id := &idempotency{keyType: reflect.TypeFor[T]()}
		if key != nil {
			id.key = key
		}
		for _, opt := range opts {
			if opt != nil {
				opt(id)
			}
		}
		o.idem = id
	}
}

// ValidatePayload makes WithIdempotency store the SHA-256 of the part of
// each event that the JMESPath expression expr selects from its JSON
// encoding ("detail", "body" for an SQS message's body string), and fail
// an event whose key was used before with another payload, with an error
// matching ErrPayloadMismatch, without running its handler. Select only
// what is the same in every delivery of one event: an SQS message's
// attributes (ApproximateReceiveCount) change between receives. The
// default is no validation. An expression that does not compile is a
// configuration error (lock.ErrInvalidInput).
func ValidatePayload(expr string) IdempotencyOption {
	return func(id *idempotency) { id.payload, id.payloadErr = compile(expr) }
}

// RunWithoutIdempotencyKey makes an event from which no idempotency key
// can be derived run its handler without idempotency (its entity locks
// still apply), with a warning. The default is to fail it with an error
// matching ErrNoKey.
func RunWithoutIdempotencyKey() IdempotencyOption {
	return func(id *idempotency) { id.runWithoutKey = true }
}

// WithoutResults makes completions store no result: a duplicate of a
// completed event gets Wrap's zero output. For outputs too large to store
// (lock.MaxResultBytes) or not worth storing. The default stores Wrap's
// output as JSON. Only Wrap takes it: WrapNoOutput, WrapSQS, WrapKinesis
// and WrapDynamoDBStream have no output to store, and WrapHTTP must answer
// a duplicate request with the stored response, so they refuse it as a
// configuration error.
func WithoutResults() IdempotencyOption { return func(id *idempotency) { id.noResults = true } }

// CompletionExpiry sets how long a completed event answers its
// duplicates; after it, the event runs again. The default is
// lock.DefaultCompletionExpiry, 24 hours: longer than SQS's and
// EventBridge's retries of one event.
func CompletionExpiry(d time.Duration) IdempotencyOption {
	return func(id *idempotency) { id.expiry = d }
}

// IdempotencyScope sets a name hashed with every key, for functions that
// share a namespace and a key space but do different work with one event
// (two consumers of one order each doing their own part): give each its
// own scope, or the first to complete an order answers for both. The
// default, "", is no scope.
func IdempotencyScope(scope string) IdempotencyOption {
	return func(id *idempotency) { id.scope = scope }
}

// SQSMessageID returns a KeyFunc that gives an SQS message's ID, which SQS
// keeps across redeliveries of one message (a message sent twice has two).
func SQSMessageID() KeyFunc[events.SQSMessage] {
	return func(_ context.Context, m events.SQSMessage) ([]string, error) {
		return nonEmpty("messageId", []string{m.MessageId})
	}
}

// validate reports an idempotency configuration that cannot work for a
// wrapper of events of type want.
func (id *idempotency) validate(want reflect.Type) error {
	switch {
	case id.key == nil:
		return fmt.Errorf("%w: WithIdempotency: nil key function", lock.ErrInvalidInput)
	case id.keyType != want:
		return fmt.Errorf("%w: WithIdempotency: a key function of %s events given to a wrapper of %s events", lock.ErrInvalidInput, id.keyType, want)
	case id.payloadErr != nil:
		return fmt.Errorf("ValidatePayload: %w", id.payloadErr)
	case id.expiry < 0:
		return fmt.Errorf("%w: CompletionExpiry must not be negative, got %s", lock.ErrInvalidInput, id.expiry)
	}
	return nil
}

// claimSpec is one event's idempotency claim.
type claimSpec struct {
	id      string // the claim's lock ID
	payload []byte // what ValidatePayload selected, as JSON; nil without it
	// result returns the JSON to store once the handler succeeded; nil
	// stores none.
	result func() ([]byte, error)
}

// claimFor derives event's claim: nil when the wrapper has no idempotency
// (or runs disabled), or when no key is found and RunWithoutIdempotencyKey
// is set. An event without a key is a *KeyError naming its ID.
func claimFor[T any](ctx context.Context, inv *invoker, event T, log *slog.Logger) (*claimSpec, error) {
	id := inv.o.idem
	if id == nil || inv.o.disabled {
		return nil, nil
	}
	key, _ := id.key.(KeyFunc[T]) // checked when the wrapper was made
	ks, err := callKey(ctx, key, event, log)
	if err == nil && len(ks) == 0 {
		err = keyError("the idempotency key function", "no keys", nil)
	}
	for _, k := range ks {
		if err == nil && strings.TrimSpace(k) == "" {
			err = keyError("the idempotency key function", "empty key", nil)
		}
	}
	if err != nil {
		ke := withEventID(err, eventID(ctx, event))
		ke.Reason = "idempotency key: " + ke.Reason
		if id.runWithoutKey {
			log.Warn("no idempotency key: running without idempotency", "error", ke)
			return nil, nil
		}
		return nil, ke
	}
	spec := &claimSpec{id: ClaimID(inv.o.namespace, id.scope, ks...)}
	if id.payload != nil {
		if spec.payload, err = selectPayload(id.payload, event); err != nil {
			return nil, withEventID(err, eventID(ctx, event))
		}
	}
	return spec, nil
}

// ClaimID returns the lock ID of the idempotency claim of keys (in the
// order a KeyFunc gives them) under namespace and scope (IdempotencyScope;
// "" for none): LockID(namespace, "idempotency#" + the hex SHA-256 of
// scope and then each key, each preceded by its length in bytes as an
// 8-byte big-endian integer). The lengths make the encoding injective:
// keys may hold any bytes (a JSON "\u0000" is a NUL), and no two
// different scopes and key lists share a claim, which would answer one
// event with another's stored output. Operators use it to find an event's
// record (dynalock show).
func ClaimID(namespace, scope string, keys ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, s := range append([]string{scope}, keys...) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return LockID(namespace, claimPrefix+hex.EncodeToString(h.Sum(nil)))
}

// selectPayload evaluates p over event's JSON and returns the value found
// as JSON (object keys sorted, so equal values give equal bytes).
func selectPayload[T any](p *path, event T) ([]byte, error) {
	raw, err := json.Marshal(event)
	if err != nil {
		return nil, keyError(p.name(), "event cannot be encoded as JSON", err)
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, keyError(p.name(), "event is not JSON", err)
	}
	res, err := p.search(v)
	if err != nil {
		return nil, keyError(p.name(), "payload evaluation failed", err)
	}
	out, err := json.Marshal(res)
	if err != nil {
		return nil, keyError(p.name(), "payload cannot be encoded as JSON", err)
	}
	return out, nil
}
