package middleware_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/middleware"
)

// TestIdempotencyOffByEnv: with POWERTOOLS_IDEMPOTENCY_DISABLED true when
// the wrapper is built, every delivery runs the handler and no claim is
// written, the entity lock still is, and a warning says so; a key that
// cannot work still fails the build; a false value changes nothing.
func TestIdempotencyOffByEnv(t *testing.T) {
	for _, tc := range []struct {
		value string
		off   bool
	}{{"true", true}, {"1", true}, {"ON", true}, {"false", false}, {"", false}} {
		t.Run(tc.value, func(t *testing.T) {
			t.Setenv("POWERTOOLS_IDEMPOTENCY_DISABLED", tc.value)
			e := newEnv(t)
			var runs atomic.Int32
			h := must(middleware.Wrap(e.c, middleware.EventBridgeDetail("accountId"),
				func(ctx context.Context, ev events.EventBridgeEvent) (receipt, error) {
					return receipt{Event: ev.ID, Run: runs.Add(1)}, nil
				}, e.opts(middleware.WithIdempotency(middleware.EventBridgeID()))...))(t)
			ev := accountEvent("ev-1", "42")
			for range 2 {
				if _, err := h(context.Background(), ev); err != nil {
					t.Fatal(err)
				}
			}
			want := int32(1)
			if tc.off {
				want = 2
			}
			if runs.Load() != want {
				t.Errorf("%d runs of one event delivered twice, want %d", runs.Load(), want)
			}
			claim := e.claimRecord("ev-1")
			warned := len(e.logLines("idempotency is off")) == 1
			if (claim.LockID == "") != tc.off || warned != tc.off {
				t.Errorf("claim item %q, warning %v; want neither when off, both otherwise", claim.LockID, warned)
			}
			if e.record("42").LockID == "" {
				t.Error("the entity lock was not taken")
			}
		})
	}
	t.Setenv("POWERTOOLS_IDEMPOTENCY_DISABLED", "true")
	e := newEnv(t)
	_, err := middleware.Wrap(e.c, middleware.EventBridgeDetail("accountId"),
		func(context.Context, events.EventBridgeEvent) (string, error) { return "", nil },
		e.opts(middleware.WithIdempotency(middleware.JMESPath[events.SQSMessage]("id")))...)
	if err == nil {
		t.Error("a key of another event type was accepted while idempotency is off by the environment")
	}
}

// reportOnly returns an SQS handler that answers a batch whose every
// record failed with the partial batch response alone, without an error
// (Powertools' throwOnFullBatchFailure: false): the records come back as
// failed records do, but Lambda does not count the invocation as an error.
func reportOnly(h func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return func(ctx context.Context, batch events.SQSEvent) (events.SQSEventResponse, error) {
		resp, err := h(ctx, batch)
		if err != nil && len(batch.Records) > 0 && len(resp.BatchItemFailures) == len(batch.Records) {
			return resp, nil // every record is reported failed: each comes back
		}
		return resp, err
	}
}

// TestSQSFullBatchFailureReportOnly: WrapSQS fails the invocation when
// every record fails, with the partial batch response naming them all; the
// reportOnly wrapper returns that response without the error, and leaves
// other outcomes alone.
func TestSQSFullBatchFailureReportOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"), func(ctx context.Context, m events.SQSMessage) error {
		if strings.Contains(m.Body, "bad") {
			return errors.New("bad record")
		}
		return nil
	}, e.opts()...))(t)
	all := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m-1", Body: `{"sku":"bad-1"}`}, {MessageId: "m-2", Body: `{"sku":"bad-2"}`},
	}}
	some := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m-3", Body: `{"sku":"bad-3"}`}, {MessageId: "m-4", Body: `{"sku":"ok"}`},
	}}
	resp, err := h(context.Background(), all)
	if !errors.Is(err, middleware.ErrBatchFailed) || len(resp.BatchItemFailures) != 2 {
		t.Fatalf("every record failed: %v, failures %v; want ErrBatchFailed and both", err, failures(resp))
	}
	quiet := reportOnly(h)
	resp, err = quiet(context.Background(), all)
	if err != nil || len(resp.BatchItemFailures) != 2 {
		t.Errorf("reportOnly, every record failed: %v, failures %v; want no error and both", err, failures(resp))
	}
	resp, err = quiet(context.Background(), some)
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m-3" {
		t.Errorf("reportOnly, one record failed: %v, failures %v", err, failures(resp))
	}
}
