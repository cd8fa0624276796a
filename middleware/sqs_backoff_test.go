package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/dynalock/dynalock/middleware"
)

// standardURL and fifoURL are the queue URLs of the sample events' ARNs.
const (
	standardURL = "https://sqs.us-east-1.amazonaws.com/123456789012/reserve-stock"
	fifoURL     = "https://sqs.us-east-1.amazonaws.com/123456789012/reserve-stock.fifo"
)

// withReceives returns batch with every record's ApproximateReceiveCount
// set to n, or to counts[messageId] where given.
func withReceives(batch events.SQSEvent, n int, counts map[string]int) events.SQSEvent {
	out := events.SQSEvent{Records: slices.Clone(batch.Records)}
	for i, r := range out.Records {
		attrs := map[string]string{}
		for k, v := range r.Attributes {
			attrs[k] = v
		}
		c := n
		if v, ok := counts[r.MessageId]; ok {
			c = v
		}
		attrs["ApproximateReceiveCount"] = strconv.Itoa(c)
		out.Records[i].Attributes = attrs
	}
	return out
}

// reserve is a handler that does nothing, except fail the records named
// in failing.
func reserve(failing ...string) func(context.Context, events.SQSMessage) error {
	return func(_ context.Context, m events.SQSMessage) error {
		if slices.Contains(failing, m.MessageId) {
			return errors.New("out of stock")
		}
		return nil
	}
}

// In events/sqs-standard.json BLUE-MUG is std-msg-1, 3 and 5 (receipt
// handles AQEB-receipt-1, 3, 5).
func TestBackoffHeldRecords(t *testing.T) {
	t.Parallel()
	blue := []string{"AQEB-receipt-1", "AQEB-receipt-3", "AQEB-receipt-5"}
	for _, tc := range []struct {
		name       string
		holdFor    time.Duration
		receives   int
		queueVis   string // the queue's VisibilityTimeout, seconds
		redrive    string // its RedrivePolicy
		lo, hi     int    // the range of every entry's VisibilityTimeout
		none       bool   // no change is sent
		attributes int    // GetQueueAttributes requests
	}{
		{name: "first receive: about a second", holdFor: time.Minute, receives: 1, queueVis: "180", lo: 1, hi: 1, attributes: 1},
		{name: "grows with the receive count", holdFor: time.Minute, receives: 4, queueVis: "180", lo: 4, hi: 8, attributes: 1},
		{name: "never past the holder's lease end", holdFor: 2500 * time.Millisecond, receives: 10, queueVis: "180", lo: 1, hi: 3, attributes: 1},
		{name: "at the queue's timeout: left alone", holdFor: time.Minute, receives: 6, queueVis: "5", none: true, attributes: 1},
		{name: "before the last receive", holdFor: time.Minute, receives: 3, queueVis: "180",
			redrive: `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":5}`, lo: 2, hi: 4, attributes: 1},
		{name: "the last receive before the DLQ waits the queue's timeout", holdFor: time.Minute, receives: 4, queueVis: "180",
			redrive: `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":"5"}`, none: true, attributes: 1},
		{name: "past the last receive", holdFor: time.Minute, receives: 7, queueVis: "180",
			redrive: `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":5}`, none: true, attributes: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			q := newSQSServer(t)
			q.visibility, q.redrive = tc.queueVis, tc.redrive
			e.hold("BLUE-MUG", tc.holdFor)
			h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"), reserve(),
				e.opts(middleware.WithVisibilityBackoff(q.client()))...))(t)
			ctx, _ := lambdaCtx(t, "req-1", 10*time.Second)
			batch := withReceives(loadSQS(t, "sqs-standard.json"), tc.receives, nil)
			// Twice: the queue's visibility timeout is read once.
			for range 2 {
				resp, err := h(ctx, batch)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := failures(resp), []string{"std-msg-1", "std-msg-3", "std-msg-5"}; !slices.Equal(got, want) {
					t.Fatalf("BatchItemFailures = %v, want %v", got, want)
				}
			}
			reqs := q.ops("ChangeMessageVisibilityBatch")
			if got := len(q.ops("GetQueueAttributes")); got != tc.attributes {
				t.Errorf("%d GetQueueAttributes requests, want %d", got, tc.attributes)
			}
			for _, r := range q.ops("GetQueueAttributes") {
				if r.QueueURL != standardURL || !slices.Equal(r.Attributes, []string{"VisibilityTimeout", "RedrivePolicy"}) {
					t.Errorf("GetQueueAttributes %+v, want VisibilityTimeout and RedrivePolicy of %s", r, standardURL)
				}
			}
			if tc.none {
				if len(reqs) != 0 {
					t.Errorf("sent %+v, want nothing", reqs)
				}
				return
			}
			if len(reqs) != 2 {
				t.Fatalf("%d ChangeMessageVisibilityBatch requests for 2 batches, want one each: %+v", len(reqs), reqs)
			}
			for _, r := range reqs {
				if r.QueueURL != standardURL || r.ContentType != "application/x-amz-json-1.0" {
					t.Errorf("request to %q as %q, want %q as application/x-amz-json-1.0", r.QueueURL, r.ContentType, standardURL)
				}
				var handles []string
				for _, en := range r.Entries {
					handles = append(handles, en.ReceiptHandle)
					if en.VisibilityTimeout < tc.lo || en.VisibilityTimeout > tc.hi {
						t.Errorf("%s: VisibilityTimeout %d, want %d to %d", en.ReceiptHandle, en.VisibilityTimeout, tc.lo, tc.hi)
					}
				}
				if slices.Sort(handles); !slices.Equal(handles, blue) {
					t.Errorf("entries for %v, want the held records %v", handles, blue)
				}
			}
		})
	}
}

// In events/sqs-fifo.json, group customer-a is fifo-msg-1 (BLUE-MUG), 3
// and 5; customer-b is fifo-msg-2 and fifo-msg-4 (BLUE-MUG). With
// BLUE-MUG held, fifo-msg-1 and fifo-msg-4 are held, 3 and 5 follow 1.
func TestBackoffFIFOGroupComesBackTogether(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := newSQSServer(t)
	e.hold("BLUE-MUG", time.Minute)
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"), reserve(),
		e.opts(middleware.WithVisibilityBackoff(q.client()))...))(t)
	ctx, _ := lambdaCtx(t, "req-1", 10*time.Second)
	// fifo-msg-1 was received five times: its group's delay is 8-16 s.
	batch := withReceives(loadSQS(t, "sqs-fifo.json"), 1, map[string]int{"fifo-msg-1": 5})
	resp, err := h(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failures(resp), []string{"fifo-msg-1", "fifo-msg-3", "fifo-msg-4", "fifo-msg-5"}; !slices.Equal(got, want) {
		t.Fatalf("BatchItemFailures = %v, want %v", got, want)
	}
	reqs := q.ops("ChangeMessageVisibilityBatch")
	if len(reqs) != 1 || reqs[0].QueueURL != fifoURL {
		t.Fatalf("requests %+v, want one to %s", reqs, fifoURL)
	}
	got := q.changes()
	a := []int{got["AQEB-receipt-1"], got["AQEB-receipt-3"], got["AQEB-receipt-5"]}
	if a[0] < 8 || a[0] > 16 || a[1] != a[0] || a[2] != a[0] {
		t.Errorf("group customer-a's visibility %v, want one value of 8 to 16 s for the held record and the two that follow it", a)
	}
	if b := got["AQEB-receipt-4"]; b != 1 {
		t.Errorf("fifo-msg-4 (held, first receive) visibility %d, want 1", b)
	}
	if _, ok := got["AQEB-receipt-2"]; ok || len(got) != 4 {
		t.Errorf("changes %v, want the four failed records only", got)
	}
}

// Records whose handler failed keep the queue's visibility timeout: only
// a held lock is backed off.
func TestBackoffHandlerErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := newSQSServer(t)
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"), reserve("std-msg-2", "std-msg-4"),
		e.opts(middleware.WithVisibilityBackoff(q.client()))...))(t)
	ctx, _ := lambdaCtx(t, "req-1", 10*time.Second)
	resp, err := h(ctx, loadSQS(t, "sqs-standard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failures(resp), []string{"std-msg-2", "std-msg-4"}; !slices.Equal(got, want) {
		t.Fatalf("BatchItemFailures = %v, want %v", got, want)
	}
	if got := q.changes(); len(got) != 0 || q.total() != 0 {
		t.Errorf("changes %v, %d SQS requests; want none", got, q.total())
	}
}

// A batch without a held record sends nothing: not when every record
// succeeds, nor when records fail for other reasons.
func TestBackoffNothingHeldSendsNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		key      middleware.Key[events.SQSMessage]
		failing  []string
		failures []string
	}{
		{name: "every record processed", key: middleware.SQSBody("sku"), failures: []string{}},
		{name: "handler errors", key: middleware.SQSBody("sku"), failing: []string{"std-msg-1"}, failures: []string{"std-msg-1"}},
		{name: "no key", key: middleware.SQSBody("nothing"),
			failures: []string{"std-msg-1", "std-msg-2", "std-msg-3", "std-msg-4", "std-msg-5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			q := newSQSServer(t)
			h := must(middleware.WrapSQS(e.c, tc.key, reserve(tc.failing...), e.opts(middleware.WithVisibilityBackoff(q.client()))...))(t)
			ctx, _ := lambdaCtx(t, "req-1", 10*time.Second)
			resp, _ := h(ctx, loadSQS(t, "sqs-standard.json"))
			if got := failures(resp); !slices.Equal(got, tc.failures) {
				t.Errorf("BatchItemFailures = %v, want %v", got, tc.failures)
			}
			if n := q.total(); n != 0 {
				t.Errorf("%d SQS requests, want none", n)
			}
		})
	}
}

// A visibility change that fails leaves the response as it was: the
// records wait out the visibility timeout; the failure is logged and
// counted.
func TestBackoffFailuresAreHarmless(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		arn        string // replaces the records' eventSourceARN when set
		change     func(sqsRequest) (int, string)
		attributes func(sqsRequest) (int, string)
		opts       []middleware.Option
		backedOff  int
		failed     int
		log        string
	}{
		{name: "request refused", change: func(sqsRequest) (int, string) {
			return 500, `{"__type":"com.amazonaws.sqs#InternalError","message":"boom"}`
		}, failed: 3, log: "visibility not changed"},
		{name: "entries refused", change: func(r sqsRequest) (int, string) {
			b, _ := json.Marshal(map[string]any{
				"Successful": []any{map[string]string{"Id": r.Entries[0].ID}},
				"Failed": []any{
					map[string]any{"Id": r.Entries[1].ID, "Code": "ReceiptHandleIsInvalid", "SenderFault": true, "Message": "expired"},
					map[string]any{"Id": r.Entries[2].ID, "Code": "MessageNotInflight", "SenderFault": true, "Message": "not in flight"},
				}})
			return 200, string(b)
		}, backedOff: 1, failed: 2, log: "MessageNotInflight"},
		// The reserve bounds the requests after the records settled.
		{name: "slower than the reserve", change: func(sqsRequest) (int, string) {
			time.Sleep(time.Second)
			return 0, ""
		}, opts: []middleware.Option{middleware.WithReserve(100 * time.Millisecond)}, failed: 3, log: "visibility not changed"},
		{name: "queue attributes refused", attributes: func(sqsRequest) (int, string) {
			return 400, `{"__type":"com.amazonaws.sqs#AccessDenied","message":"not allowed"}`
		}, failed: 3, log: "visibility timeout is unknown"},
		{name: "no queue URL from the ARN", arn: "arn:aws:sns:us-east-1:123456789012:topic", failed: 3, log: "no queue URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			q := newSQSServer(t)
			q.onChange, q.onAttributes = tc.change, tc.attributes
			e.hold("BLUE-MUG", time.Minute)
			var metrics syncBuffer
			h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"), reserve(),
				e.opts(append(tc.opts, middleware.WithVisibilityBackoff(q.client()), middleware.WithMetrics(&metrics))...)...))(t)
			batch := loadSQS(t, "sqs-standard.json")
			if tc.arn != "" {
				for i := range batch.Records {
					batch.Records[i].EventSourceARN = tc.arn
				}
			}
			ctx, _ := lambdaCtx(t, "req-1", 10*time.Second)
			resp, err := h(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := failures(resp), []string{"std-msg-1", "std-msg-3", "std-msg-5"}; !slices.Equal(got, want) {
				t.Errorf("BatchItemFailures = %v, want %v", got, want)
			}
			m := emfLine(t, metrics.String())
			if m["BackedOff"] != float64(tc.backedOff) || m["VisibilityFailures"] != float64(tc.failed) {
				t.Errorf("BackedOff %v, VisibilityFailures %v; want %d, %d", m["BackedOff"], m["VisibilityFailures"], tc.backedOff, tc.failed)
			}
			if !strings.Contains(e.logs.String(), tc.log) {
				t.Errorf("log does not mention %q:\n%s", tc.log, e.logs)
			}
		})
	}
}

// More than 10 held records take several requests, sent at once.
func TestBackoffManyRecordsSeveralRequestsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := newSQSServer(t)
	arrived := make(chan struct{}, 2)
	q.onChange = func(sqsRequest) (int, string) {
		arrived <- struct{}{}
		// Answer once both requests are in: sent one after the other,
		// the first would wait here in vain.
		deadline := time.After(5 * time.Second)
		for len(arrived) < 2 {
			select {
			case <-deadline:
				t.Error("the second request did not arrive while the first was in flight")
				return 0, ""
			case <-time.After(time.Millisecond):
			}
		}
		return 0, ""
	}
	var batch events.SQSEvent
	std := loadSQS(t, "sqs-standard.json").Records[0]
	for i := range 12 {
		r := std
		r.MessageId, r.ReceiptHandle = fmt.Sprintf("m-%d", i), fmt.Sprintf("rh-%d", i)
		r.Body = fmt.Sprintf(`{"orderId":"o-%d","sku":"SKU-%d","quantity":1}`, i, i)
		batch.Records = append(batch.Records, r)
		e.hold(fmt.Sprintf("SKU-%d", i), time.Minute)
	}
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"), reserve(),
		// A reserve long enough for the first request to wait for the second.
		e.opts(middleware.WithConcurrency(12), middleware.WithReserve(10*time.Second), middleware.WithVisibilityBackoff(q.client()))...))(t)
	ctx, _ := lambdaCtx(t, "req-1", 30*time.Second)
	resp, _ := h(ctx, batch)
	if len(resp.BatchItemFailures) != 12 {
		t.Fatalf("%d failures, want 12", len(resp.BatchItemFailures))
	}
	var sizes []int
	for _, r := range q.ops("ChangeMessageVisibilityBatch") {
		sizes = append(sizes, len(r.Entries))
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{2, 10}) {
		t.Errorf("requests of %v entries, want 10 and 2", sizes)
	}
	if n := len(q.changes()); n != 12 {
		t.Errorf("%d records changed, want 12", n)
	}
}

// The change goes out as soon as every record has taken its locks or
// failed, while handlers still run: a handler waits for the request.
func TestBackoffSentBesideTheHandlers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := newSQSServer(t)
	got := make(chan struct{})
	q.onChange = func(sqsRequest) (int, string) { close(got); return 0, "" }
	e.hold("BLUE-MUG", time.Minute)
	sawIt := false
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"), func(ctx context.Context, m events.SQSMessage) error {
		if m.MessageId == "std-msg-2" {
			select {
			case <-got:
				sawIt = true
			case <-time.After(5 * time.Second):
			}
		}
		return nil
	}, e.opts(middleware.WithVisibilityBackoff(q.client()))...))(t)
	ctx, _ := lambdaCtx(t, "req-1", 30*time.Second)
	batch := loadSQS(t, "sqs-standard.json")
	batch.Records = batch.Records[:3] // std-msg-1 (held), 2 (RED-MUG), 3 (held)
	if _, err := h(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if !sawIt {
		t.Error("the visibility request did not arrive while std-msg-2's handler ran")
	}
	if n := len(q.changes()); n != 2 {
		t.Errorf("%d records changed, want 2", n)
	}
}

func TestBackoffMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := newSQSServer(t)
	e.hold("BLUE-MUG", time.Minute)
	var metrics syncBuffer
	h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"), reserve(),
		e.opts(middleware.WithVisibilityBackoff(q.client()), middleware.BackoffJitter(func(n int64) int64 { return n - 1 }),
			middleware.WithMetrics(&metrics))...))(t)
	ctx, _ := lambdaCtx(t, "req-1", 10*time.Second)
	if _, err := h(ctx, withReceives(loadSQS(t, "sqs-standard.json"), 3, nil)); err != nil {
		t.Fatal(err)
	}
	m := emfLine(t, metrics.String())
	if m["BackedOff"] != 3.0 || m["VisibilityFailures"] != 0.0 || fmt.Sprint(m["BackoffDelay"]) != "[4 4 4]" {
		t.Errorf("EMF BackedOff %v, BackoffDelay %v, VisibilityFailures %v; want 3, [4 4 4], 0", m["BackedOff"], m["BackoffDelay"], m["VisibilityFailures"])
	}
	names := fmt.Sprint(m["_aws"])
	for _, n := range []string{"BackedOff", "BackoffDelay", "VisibilityFailures"} {
		if !strings.Contains(names, n) {
			t.Errorf("EMF metadata does not declare %s: %s", n, names)
		}
	}
}

func TestQueueURL(t *testing.T) {
	for _, tc := range []struct {
		arn, want string
	}{
		{"arn:aws:sqs:us-east-1:123456789012:orders", "https://sqs.us-east-1.amazonaws.com/123456789012/orders"},
		{"arn:aws:sqs:eu-west-3:123456789012:orders.fifo", "https://sqs.eu-west-3.amazonaws.com/123456789012/orders.fifo"},
		{"arn:aws-cn:sqs:cn-north-1:123456789012:orders", "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/orders"},
		{"arn:aws-us-gov:sqs:us-gov-west-1:123456789012:orders", "https://sqs.us-gov-west-1.amazonaws.com/123456789012/orders"},
		{"arn:aws-iso:sqs:us-iso-east-1:123456789012:orders", "https://sqs.us-iso-east-1.c2s.ic.gov/123456789012/orders"},
		{"arn:aws:sns:us-east-1:123456789012:topic", ""},
		{"arn:aws:sqs::123456789012:orders", ""},
		{"arn:aws-mars:sqs:mars-1:123456789012:orders", ""},
		{"reserve-stock", ""},
	} {
		got, err := middleware.QueueURL(tc.arn)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("QueueURL(%q) = %q, %v; want %q", tc.arn, got, err, tc.want)
		}
	}
}

// deadlineSQS records the deadline of the context of every SQS request the
// backoff makes, then sends it on.
type deadlineSQS struct {
	next middleware.SQSVisibilityAPI

	mu        sync.Mutex // protects deadlines
	deadlines []time.Time
}

func (d *deadlineSQS) note(ctx context.Context) {
	dl, _ := ctx.Deadline() // the zero time without one
	d.mu.Lock()
	d.deadlines = append(d.deadlines, dl)
	d.mu.Unlock()
}

func (d *deadlineSQS) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	d.note(ctx)
	return d.next.ChangeMessageVisibilityBatch(ctx, in, optFns...)
}

func (d *deadlineSQS) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	d.note(ctx)
	return d.next.GetQueueAttributes(ctx, in, optFns...)
}

// A slow SQS never holds the batch past the releases' cut-off (50 ms
// before the deadline with the default reserve): every visibility request
// ends by then, the handler returns before the deadline, and a request cut
// off is a visibility failure (logged, counted), never a failed batch. Had
// the requests run to the deadline, Lambda would report a timeout and
// deliver the whole batch again, processed records included.
func TestBackoffEndsByTheReleasesCutOff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		slow   string // the operation SQS answers late
		failed int    // VisibilityFailures
		log    string
	}{
		// std-msg-1 waits for BLUE-MUG until the deadline less the
		// reserve, then the change (and the read of the queue's
		// attributes) gets the reserve, its bound, which reaches the
		// deadline. 3 and 5 gave up waiting for 1 and keep their
		// visibility timeout.
		{name: "slow change, a wait that ends at the reserve", slow: "ChangeMessageVisibilityBatch", failed: 1, log: "visibility not changed"},
		{name: "slow queue attributes, a wait that ends at the reserve", slow: "GetQueueAttributes", failed: 1, log: "visibility timeout is unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			q := newSQSServer(t)
			q.delay = map[string]time.Duration{tc.slow: time.Minute}
			client := &deadlineSQS{next: q.client()}
			e.hold("BLUE-MUG", time.Minute)
			var metrics syncBuffer
			h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"), reserve(),
				e.opts(middleware.WithOnHeld(middleware.Wait), middleware.WithVisibilityBackoff(client), middleware.WithMetrics(&metrics))...))(t)
			ctx, deadline := lambdaCtx(t, "req-1", 2*time.Second)
			cutOff := deadline.Add(-50 * time.Millisecond) // min(DefaultReserve/2, 50 ms)
			stall := startStallMeter()
			resp, err := h(ctx, loadSQS(t, "sqs-standard.json"))
			// Before the deadline, unless the process was not running for
			// that long (the requests' own bound is checked below, exactly).
			if over, stalled := time.Since(deadline), stall.longest(); over > stalled {
				t.Errorf("the handler returned %s after the deadline (the process stalled %s at most)", over, stalled)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := failures(resp), []string{"std-msg-1", "std-msg-3", "std-msg-5"}; !slices.Equal(got, want) {
				t.Errorf("BatchItemFailures = %v, want %v", got, want)
			}
			client.mu.Lock()
			deadlines := slices.Clone(client.deadlines)
			client.mu.Unlock()
			if len(deadlines) == 0 {
				t.Fatal("no SQS request")
			}
			for i, dl := range deadlines {
				if dl.IsZero() || dl.After(cutOff) {
					t.Errorf("SQS request %d may run until %s after the releases' cut-off (its deadline %v)", i+1, dl.Sub(cutOff), dl)
				}
			}
			m := emfLine(t, metrics.String())
			if m["BackedOff"] != 0.0 || m["VisibilityFailures"] != float64(tc.failed) {
				t.Errorf("BackedOff %v, VisibilityFailures %v; want 0, %d", m["BackedOff"], m["VisibilityFailures"], tc.failed)
			}
			if !strings.Contains(e.logs.String(), tc.log) {
				t.Errorf("log does not mention %q:\n%s", tc.log, e.logs)
			}
		})
	}
}
