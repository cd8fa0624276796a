package once

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// Delivery paths: how an event reaches the handler. Each is one of the
// middleware's wrappers with WithIdempotency and the Lambda event its
// trigger sends; every event takes one path for all its deliveries, as an
// event arrives through one trigger. Adding a path is one pathSpec below:
// its wrapper, with the trigger's own keys over the event's "account" (the
// entity lock) and "keys" (the idempotency key), and how to read the
// trigger's answer. The middleware checks each delivery's payload against
// the claim's (the SQS body; the HTTP request's method, path, query and
// body; the whole event or record otherwise): every delivery of one event
// carries the same, as a trigger's redeliveries do.
const (
	PathWrap           = "wrap"            // middleware.Wrap over the Event itself
	PathSQS            = "sqs"             // middleware.WrapSQS, a batch of one message whose body is the Event
	PathHTTP           = "http"            // middleware.WrapHTTP (a function URL), the Event as the POST body, the Output as the 200 body
	PathKinesis        = "kinesis"         // middleware.WrapKinesis, a batch of one record whose data is the Event
	PathDynamoDBStream = "dynamodb-stream" // middleware.WrapDynamoDBStream, a batch of one INSERT whose NewImage is the Event
)

// pathSpec is one delivery path.
type pathSpec struct {
	name string
	// output: the trigger's caller gets the handler's output, which the
	// check compares with the stored result. SQS and streams get none.
	output bool
	// broken, if set, says why the path is expected to fail today; such
	// paths are off by default. (None is since the v0.1 wrappers honour
	// WithIdempotency in every path, issue 19.)
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
	// replayed: the HTTP response was marked Idempotent-Replayed: true.
	replayed bool
}

var paths = []pathSpec{
	{name: PathWrap, output: true, build: buildWrap},
	{name: PathSQS, build: buildSQS},
	{name: PathHTTP, output: true, build: buildHTTP},
	{name: PathKinesis, build: buildKinesis},
	{name: PathDynamoDBStream, build: buildDynamoDBStream},
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

// with returns common and the path's options: its idempotency key.
func with[T any](common []middleware.Option, key middleware.Key[T]) []middleware.Option {
	return append(slices.Clone(common), middleware.WithIdempotency(key))
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

// marshalOutput is the result a handler whose trigger answers with its
// Output stores: its JSON, as the middleware stores it.
func marshalOutput(out Output) ([]byte, error) { return json.Marshal(out) }

// noResult is the result a handler of a trigger without an output
// stores: none, as the middleware completes such events.
func noResult(Output) ([]byte, error) { return nil, nil }

func buildWrap(w *worker, common []middleware.Option) (deliverFunc, error) {
	h, err := middleware.Wrap(w.locks, middleware.JMESPath[Event]("account"),
		func(ctx context.Context, ev Event) (Output, error) { return w.handle(ctx, ev, marshalOutput) },
		with(common, middleware.JMESPath[Event]("keys"))...)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, d delivery) reply {
		out, err := h(ctx, w.payload(d.Event))
		if err != nil {
			return reply{err: err}
		}
		return reply{out: jsonString(out)}
	}, nil
}

func buildSQS(w *worker, common []middleware.Option) (deliverFunc, error) {
	h, err := middleware.WrapSQS(w.locks, middleware.SQSBody("account"),
		func(ctx context.Context, m events.SQSMessage) error {
			ev, err := decodeEvent([]byte(m.Body))
			if err == nil {
				_, err = w.handle(ctx, ev, noResult)
			}
			return err
		},
		with(common, middleware.SQSBody("keys"))...)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, d delivery) reply {
		b, _ := json.Marshal(w.payload(d.Event))
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

// replayedHeader marks a response WrapHTTP answered from the store.
const replayedHeader = "Idempotent-Replayed"

// buildHTTP: the Event is a function URL's POST body; the handler answers
// 200 with the Output as its body, and completes the event with that
// response's JSON, which WrapHTTP stores (the whole response, not the
// Output) and replays to duplicates, marked Idempotent-Replayed: true. The
// answer's output is the response as the caller got it, as JSON, less that
// mark (recorded apart), so that it compares with the stored result.
func buildHTTP(w *worker, common []middleware.Option) (deliverFunc, error) {
	trigger := middleware.FunctionURL()
	respond := func(out Output) events.LambdaFunctionURLResponse {
		return events.LambdaFunctionURLResponse{StatusCode: http.StatusOK, Headers: map[string]string{"Content-Type": "application/json"},
			Body: *jsonString(out)}
	}
	h, err := middleware.WrapHTTP(w.locks, trigger, trigger.Body("account"),
		func(ctx context.Context, r events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
			ev, err := decodeEvent([]byte(r.Body))
			if err != nil {
				return events.LambdaFunctionURLResponse{StatusCode: http.StatusBadRequest}, nil
			}
			out, err := w.handle(ctx, ev, func(out Output) ([]byte, error) { return json.Marshal(respond(out)) })
			if err != nil {
				return events.LambdaFunctionURLResponse{}, err
			}
			return respond(out), nil
		},
		with(common, trigger.Body("keys"))...)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, d delivery) reply {
		b, _ := json.Marshal(w.payload(d.Event))
		req := events.LambdaFunctionURLRequest{RawPath: "/credit", Body: string(b), Headers: map[string]string{"content-type": "application/json"},
			RequestContext: events.LambdaFunctionURLRequestContext{RequestID: fmt.Sprintf("r-%d", d.N),
				HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: http.MethodPost, Path: "/credit"}}}
		resp, err := h(ctx, req)
		switch {
		case err != nil:
			return reply{err: err}
		case resp.StatusCode == http.StatusOK:
			r := reply{}
			for k, v := range resp.Headers {
				if strings.EqualFold(k, replayedHeader) {
					r.replayed = v == "true"
					delete(resp.Headers, k)
				}
			}
			r.out = jsonString(resp)
			return r
		case resp.StatusCode == http.StatusConflict:
			return reply{err: fmt.Errorf("once: HTTP 409: %s", resp.Body), held: true}
		case resp.StatusCode == http.StatusUnprocessableEntity:
			return reply{err: fmt.Errorf("once: HTTP 422: %s: %w", resp.Body, lock.ErrPayloadMismatch)}
		}
		return reply{err: fmt.Errorf("once: HTTP %d: %s", resp.StatusCode, resp.Body)}
	}, nil
}

// sequenceOf is the sequence number of the stream record that carries
// ev: the same in every delivery of ev, as in Lambda's redeliveries of one
// record (the middleware's payload check compares the whole record).
func sequenceOf(ev Event) string {
	h := fnv.New64a()
	h.Write([]byte(ev.ID))
	return strconv.FormatUint(h.Sum64()>>1, 10)
}

func buildKinesis(w *worker, common []middleware.Option) (deliverFunc, error) {
	h, err := middleware.WrapKinesis(w.locks, middleware.KinesisData("account"),
		func(ctx context.Context, r events.KinesisEventRecord) error {
			ev, err := decodeEvent(r.Kinesis.Data)
			if err == nil {
				_, err = w.handle(ctx, ev, noResult)
			}
			return err
		},
		with(common, middleware.KinesisData("keys"))...)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, d delivery) reply {
		ev := w.payload(d.Event)
		b, _ := json.Marshal(ev)
		seq := sequenceOf(ev)
		rec := events.KinesisEventRecord{EventID: "shardId-000000000000:" + seq, EventSource: "aws:kinesis",
			EventSourceArn: "arn:aws:kinesis:us-east-1:000000000000:stream/once",
			Kinesis:        events.KinesisRecord{Data: b, PartitionKey: "p-" + ev.ID, SequenceNumber: seq}}
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
	// The v0.1 middleware reads fields of a record's image with JMESPath
	// over the record's JSON (DynamoDBImagePath is gone).
	h, err := middleware.WrapDynamoDBStream(w.locks, middleware.JMESPath[events.DynamoDBEventRecord]("dynamodb.NewImage.account.S"),
		func(ctx context.Context, r events.DynamoDBEventRecord) error {
			ev, err := image(r)
			if err == nil {
				_, err = w.handle(ctx, ev, noResult)
			}
			return err
		},
		with(common, middleware.JMESPath[events.DynamoDBEventRecord]("dynamodb.NewImage.keys.L[].S"))...)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, d delivery) reply {
		ev := w.payload(d.Event)
		keys := make([]events.DynamoDBAttributeValue, len(ev.Keys))
		for i, k := range ev.Keys {
			keys[i] = events.NewStringAttribute(k)
		}
		seq := sequenceOf(ev)
		rec := events.DynamoDBEventRecord{EventID: "ev-" + seq, EventName: "INSERT", EventSource: "aws:dynamodb",
			Change: events.DynamoDBStreamRecord{
				Keys: map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute(ev.ID)},
				NewImage: map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute(ev.ID),
					"account": events.NewStringAttribute(ev.Account), "amount": events.NewNumberAttribute(strconv.FormatInt(ev.Amount, 10)),
					"keys": events.NewListAttribute(keys)},
				SequenceNumber: seq, StreamViewType: "NEW_IMAGE"}}
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
