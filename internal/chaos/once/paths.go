package once

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/middleware"
)

// Delivery paths: how an event reaches the handler. Each is one of the
// middleware's wrappers with WithIdempotency and the Lambda event its
// trigger sends; every event takes one path for all its deliveries, as an
// event arrives through one trigger. Adding a path is one pathSpec below:
// its wrapper, with the trigger's own key functions over the event's
// "account" (the entity lock) and "keys" (the idempotency key), and how to
// read the trigger's answer.
const (
	PathWrap           = "wrap"            // middleware.Wrap over the Event itself
	PathSQS            = "sqs"             // middleware.WrapSQS, a batch of one message whose body is the Event
	PathHTTP           = "http"            // middleware.WrapHTTP (a function URL), the Event as the POST body, the Output as the 200 body
	PathKinesis        = "kinesis"         // middleware.WrapKinesis, a batch of one record whose data is the Event
	PathDynamoDBStream = "dynamodb-stream" // middleware.WrapDynamoDBStream, a batch of one INSERT whose NewImage is the Event
)

// knownIgnored is why a path is expected to fail today: its wrapper
// ignores WithIdempotency (being fixed on another branch), so every
// duplicate runs the handler again.
const knownIgnored = "WithIdempotency is ignored by this wrapper today (being fixed elsewhere): duplicates run again"

// pathSpec is one delivery path.
type pathSpec struct {
	name string
	// output: the trigger's caller gets the handler's output, which the
	// check compares with the stored result. SQS and streams get none.
	output bool
	// broken, if set, says why the path is expected to fail today; such
	// paths are off by default.
	broken string
	// build wraps w's handler with the options every path shares, plus
	// the path's idempotency, and returns how to deliver one event.
	build func(w *worker, common []middleware.Option) (deliverFunc, error)
}

// deliverFunc hands d's event to the wrapper as its trigger would, on ctx
// (which carries the invocation's deadline), and returns what the
// trigger's caller got.
type deliverFunc func(ctx context.Context, d delivery) reply

// reply is what a trigger's caller got from one delivery.
type reply struct {
	out *string // the output, as JSON; nil: none
	err error   // nil: acknowledged
	// held: the answer says a lock was held without an error to tell
	// (HTTP's 409).
	held bool
}

var paths = []pathSpec{
	{name: PathWrap, output: true, build: buildWrap},
	{name: PathSQS, build: buildSQS},
	{name: PathHTTP, output: true, broken: knownIgnored, build: buildHTTP},
	{name: PathKinesis, broken: knownIgnored, build: buildKinesis},
	{name: PathDynamoDBStream, broken: knownIgnored, build: buildDynamoDBStream},
}

func pathByName(name string) (pathSpec, bool) {
	for _, p := range paths {
		if p.name == name {
			return p, true
		}
	}
	return pathSpec{}, false
}

// PathNames lists the delivery paths, the default ones first.
func PathNames() []string {
	var out []string
	for _, p := range paths {
		out = append(out, p.name)
	}
	return out
}

// KnownBroken returns, for each of names that is expected to fail today,
// why.
func KnownBroken(names []string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		if p, ok := pathByName(n); ok && p.broken != "" {
			out[n] = p.broken
		}
	}
	return out
}

// idempotency is the WithIdempotency option of a path whose events are
// T: key derives the event's idempotency key, payload selects what
// ValidatePayload compares. Under -unsafe-claims shared, two events share
// one key, and nothing is validated (the middleware's default).
func idempotency[T any](w *worker, key middleware.KeyFunc[T], payload string, event func(T) (Event, error)) middleware.Option {
	if w.cfg.Unsafe == UnsafeShared {
		return middleware.WithIdempotency(middleware.KeyFunc[T](func(_ context.Context, t T) ([]string, error) {
			ev, err := event(t)
			if err != nil {
				return nil, err
			}
			return []string{pairOf(ev.ID)}, nil
		}), w.expiry())
	}
	return middleware.WithIdempotency(key, middleware.ValidatePayload(payload), w.expiry())
}

// expiry is the CompletionExpiry option of the run, if it sets one.
func (w *worker) expiry() middleware.IdempotencyOption {
	if w.cfg.CompletionExpiry > 0 {
		return middleware.CompletionExpiry(w.cfg.CompletionExpiry)
	}
	return nil
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err) // the expressions below compile
	}
	return v
}

func jsonString(v any) *string {
	b, _ := json.Marshal(v)
	return strp(string(b))
}

func decodeEvent(b []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return ev, fmt.Errorf("once: not an event: %w", err)
	}
	return ev, nil
}

func buildWrap(w *worker, common []middleware.Option) (deliverFunc, error) {
	h := middleware.Wrap(w.locks, must(middleware.JMESPath[Event]("account")),
		func(ctx context.Context, ev Event) (Output, error) { return w.handle(ctx, ev) },
		append(slices.Clone(common), idempotency(w, must(middleware.JMESPath[Event]("keys")), "[account, amount]",
			func(ev Event) (Event, error) { return ev, nil }))...)
	return func(ctx context.Context, d delivery) reply {
		out, err := h(ctx, d.Event)
		if err != nil {
			return reply{err: err}
		}
		return reply{out: jsonString(out)}
	}, nil
}

func buildSQS(w *worker, common []middleware.Option) (deliverFunc, error) {
	body := func(m events.SQSMessage) (Event, error) { return decodeEvent([]byte(m.Body)) }
	h := middleware.WrapSQS(w.locks, must(middleware.SQSBodyPath("account")),
		func(ctx context.Context, m events.SQSMessage) error {
			ev, err := body(m)
			if err == nil {
				_, err = w.handle(ctx, ev)
			}
			return err
		},
		append(slices.Clone(common), idempotency(w, must(middleware.SQSBodyPath("keys")), "body", body))...)
	return func(ctx context.Context, d delivery) reply {
		b, _ := json.Marshal(d.Event)
		msg := events.SQSMessage{MessageId: fmt.Sprintf("m-%d", d.N), Body: string(b), EventSource: "aws:sqs",
			EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:once", Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
		resp, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{msg}})
		switch {
		case err != nil: // a batch whose every record failed: the record's error
			return reply{err: err}
		case len(resp.BatchItemFailures) > 0:
			return reply{err: errors.New("once: the record was reported in BatchItemFailures")}
		}
		return reply{}
	}, nil
}

// buildHTTP: the Event is a function URL's POST body; the handler answers
// 200 with the Output as its body. Expected when the fix lands: a
// duplicate is answered with the stored output as its 200 body.
func buildHTTP(w *worker, common []middleware.Option) (deliverFunc, error) {
	trigger := middleware.FunctionURL()
	body := func(r events.LambdaFunctionURLRequest) (Event, error) { return decodeEvent([]byte(r.Body)) }
	h := middleware.WrapHTTP(w.locks, trigger, must(trigger.BodyPath("account")),
		func(ctx context.Context, r events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
			ev, err := body(r)
			if err != nil {
				return events.LambdaFunctionURLResponse{StatusCode: http.StatusBadRequest}, nil
			}
			out, err := w.handle(ctx, ev)
			if err != nil {
				return events.LambdaFunctionURLResponse{}, err
			}
			return events.LambdaFunctionURLResponse{StatusCode: http.StatusOK, Headers: map[string]string{"Content-Type": "application/json"},
				Body: *jsonString(out)}, nil
		},
		append(slices.Clone(common), idempotency(w, must(trigger.BodyPath("keys")), "body", body))...)
	return func(ctx context.Context, d delivery) reply {
		b, _ := json.Marshal(d.Event)
		req := events.LambdaFunctionURLRequest{RawPath: "/credit", Body: string(b), Headers: map[string]string{"content-type": "application/json"},
			RequestContext: events.LambdaFunctionURLRequestContext{RequestID: fmt.Sprintf("r-%d", d.N),
				HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: http.MethodPost, Path: "/credit"}}}
		resp, err := h(ctx, req)
		switch {
		case err != nil:
			return reply{err: err}
		case resp.StatusCode == http.StatusOK:
			return reply{out: strp(resp.Body)}
		case resp.StatusCode == http.StatusConflict:
			return reply{err: fmt.Errorf("once: HTTP 409: %s", resp.Body), held: true}
		}
		return reply{err: fmt.Errorf("once: HTTP %d: %s", resp.StatusCode, resp.Body)}
	}, nil
}

func buildKinesis(w *worker, common []middleware.Option) (deliverFunc, error) {
	data := func(r events.KinesisEventRecord) (Event, error) { return decodeEvent(r.Kinesis.Data) }
	h := middleware.WrapKinesis(w.locks, must(middleware.KinesisDataPath("account")),
		func(ctx context.Context, r events.KinesisEventRecord) error {
			ev, err := data(r)
			if err == nil {
				_, err = w.handle(ctx, ev)
			}
			return err
		},
		append(slices.Clone(common), idempotency(w, must(middleware.KinesisDataPath("keys")), "kinesis.data", data))...)
	return func(ctx context.Context, d delivery) reply {
		b, _ := json.Marshal(d.Event)
		rec := events.KinesisEventRecord{EventID: fmt.Sprintf("shardId-000000000000:%d", d.N), EventSource: "aws:kinesis",
			Kinesis: events.KinesisRecord{Data: b, PartitionKey: "p-" + d.Event.ID, SequenceNumber: strconv.Itoa(d.N)}}
		resp, err := h(ctx, events.KinesisEvent{Records: []events.KinesisEventRecord{rec}})
		switch {
		case err != nil:
			return reply{err: err}
		case len(resp.BatchItemFailures) > 0:
			return reply{err: errors.New("once: the record was reported in BatchItemFailures")}
		}
		return reply{}
	}, nil
}

func buildDynamoDBStream(w *worker, common []middleware.Option) (deliverFunc, error) {
	image := func(r events.DynamoDBEventRecord) (Event, error) {
		img := r.Change.NewImage
		ev := Event{ID: img["id"].String(), Account: img["account"].String()}
		n, err := img["amount"].Integer()
		if err != nil {
			return ev, fmt.Errorf("once: amount: %w", err)
		}
		ev.Amount = n
		for _, k := range img["keys"].List() {
			ev.Keys = append(ev.Keys, k.String())
		}
		return ev, nil
	}
	h := middleware.WrapDynamoDBStream(w.locks, must(middleware.DynamoDBImagePath("account")),
		func(ctx context.Context, r events.DynamoDBEventRecord) error {
			ev, err := image(r)
			if err == nil {
				_, err = w.handle(ctx, ev)
			}
			return err
		},
		append(slices.Clone(common), idempotency(w, must(middleware.DynamoDBImagePath("keys")), "dynamodb.NewImage", image))...)
	return func(ctx context.Context, d delivery) reply {
		ev := d.Event
		keys := make([]events.DynamoDBAttributeValue, len(ev.Keys))
		for i, k := range ev.Keys {
			keys[i] = events.NewStringAttribute(k)
		}
		rec := events.DynamoDBEventRecord{EventID: fmt.Sprintf("ev-%d", d.N), EventName: "INSERT", EventSource: "aws:dynamodb",
			Change: events.DynamoDBStreamRecord{
				Keys: map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute(ev.ID)},
				NewImage: map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute(ev.ID),
					"account": events.NewStringAttribute(ev.Account), "amount": events.NewNumberAttribute(strconv.FormatInt(ev.Amount, 10)),
					"keys": events.NewListAttribute(keys)},
				SequenceNumber: strconv.Itoa(d.N), StreamViewType: "NEW_IMAGE"}}
		resp, err := h(ctx, events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{rec}})
		switch {
		case err != nil:
			return reply{err: err}
		case len(resp.BatchItemFailures) > 0:
			return reply{err: errors.New("once: the record was reported in BatchItemFailures")}
		}
		return reply{}
	}, nil
}
