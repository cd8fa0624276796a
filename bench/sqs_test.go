package bench_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// batchSize is the SQS batch of BenchmarkSQSBatch: the largest batch of a
// standard queue without a batching window.
const batchSize = 10

type sqsHandler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// simulatedRTT is the latency added to every request in the rtt=10ms
// runs of BenchmarkSQSBatch, like a round trip to DynamoDB in a region. It
// makes requests sent at once overlap on the wire, as they do against
// DynamoDB, where on this machine DynamoDB Local may answer the first
// before the last is sent.
const simulatedRTT = 10 * time.Millisecond

// BenchmarkSQSBatch measures one SQS batch of 10 records with distinct
// keys through a handler that does nothing: bare (no middleware), the
// middleware with locking disabled, the middleware (a lock per record),
// and the floor (the records' acquire + release requests replayed, 10 at
// once). Then, with 10 ms added to every request, the middleware, the
// floor, and one request alone (the round trip that a batch's time is
// counted in). One op is one batch (or request); it reports the median
// time, the DynamoDB requests per op and the round trips in sequence: the
// longest chain of requests each sent after the previous one's response
// came, in the median batch (2 when every acquire goes out at once and
// every release right after its acquire).
func BenchmarkSQSBatch(b *testing.B) {
	sqsBatches(b, "rtt=local/", 0, []string{"bare", "disabled", "dynalock", "floor"})
	sqsBatches(b, "rtt=10ms/", simulatedRTT, []string{"dynalock", "floor", "request"})
}

// sqsBatches runs the batch benchmarks named in impls with delay added to
// every request.
func sqsBatches(b *testing.B, prefix string, delay time.Duration, impls []string) {
	ctx := context.Background()
	counter := &httpfault.Client{Next: newHTTPClient()}
	if delay > 0 {
		counter.Rule = func(httpfault.Request) httpfault.Action { return httpfault.Action{Delay: delay} }
	}
	tl := &timeline{next: counter}
	db := srv.Client(func(o *dynamodb.Options) { o.HTTPClient = tl })
	table := lockTable(b, db)
	c, err := newClient(db, table, lock.Config{})
	if err != nil {
		b.Fatal(err)
	}
	bySKU := middleware.SQSBody("sku")
	batch := events.SQSEvent{Records: make([]events.SQSMessage, batchSize)}
	for i := range batch.Records {
		batch.Records[i] = events.SQSMessage{
			MessageId:      fmt.Sprint("m-", i),
			Body:           fmt.Sprintf(`{"sku":"sku-%d","quantity":1}`, i),
			EventSource:    "aws:sqs",
			EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:orders",
		}
	}
	nothing := func(context.Context, events.SQSMessage) error { return nil }
	quiet := middleware.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil)))
	floors := make([]floor, batchSize)
	for i := range floors {
		if floors[i], err = captureFloor(ctx, db, table, fmt.Sprint("floor-sku-", i)); err != nil {
			b.Fatal(err)
		}
	}
	handlers := map[string]sqsHandler{
		"bare": func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
			for _, m := range e.Records {
				if err := nothing(ctx, m); err != nil {
					return events.SQSEventResponse{}, err
				}
			}
			return events.SQSEventResponse{}, nil
		},
		"disabled": wrapSQS(b, c, bySKU, nothing, quiet, middleware.WithNamespace("bench"), middleware.WithDisabled(true)),
		"dynalock": wrapSQS(b, c, bySKU, nothing, quiet, middleware.WithNamespace("bench")),
		"floor": func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
			var wg sync.WaitGroup
			errs := make([]error, len(floors))
			for i, f := range floors {
				wg.Go(func() { errs[i] = f.cycle(ctx) })
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					return events.SQSEventResponse{}, err
				}
			}
			return events.SQSEventResponse{}, nil
		},
		"request": func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, req(floors[0], true)(ctx)
		},
	}
	for _, impl := range impls {
		b.Run(prefix+"impl="+impl, func(b *testing.B) { runBatches(b, handlers[impl], batch, counter, tl) })
	}
}

// wrapSQS is middleware.WrapSQS, failing b if the wrapper is refused.
func wrapSQS(b *testing.B, c *lock.Client, key middleware.Key[events.SQSMessage], h func(context.Context, events.SQSMessage) error, opts ...middleware.Option) sqsHandler {
	b.Helper()
	w, err := middleware.WrapSQS(c, key, h, opts...)
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// runBatches invokes h with batch b.N times, each under a Lambda context
// with a 30 s deadline, and reports the median batch time, the requests
// per batch and the round trips in sequence.
func runBatches(b *testing.B, h sqsHandler, batch events.SQSEvent, counter *httpfault.Client, tl *timeline) {
	b.ReportAllocs()
	lat := make([]time.Duration, 0, b.N)
	depths := make([]int, 0, b.N)
	n := counter.Total()
	b.ResetTimer()
	for i := range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprint("req-", i)})
		tl.reset()
		start := time.Now()
		resp, err := h(ctx, batch)
		lat = append(lat, time.Since(start))
		depths = append(depths, tl.depth())
		cancel()
		if err != nil || len(resp.BatchItemFailures) > 0 {
			b.Fatalf("batch failed: %v, %d failures", err, len(resp.BatchItemFailures))
		}
	}
	b.StopTimer()
	slices.Sort(depths)
	b.ReportMetric(float64(counter.Total()-n)/float64(b.N), "req/op")
	b.ReportMetric(ms(quantile(lat, 0.5)), "p50-ms")
	b.ReportMetric(float64(depths[len(depths)/2]), "round-trips")
}

// timeline records when each request was sent and when its response came.
type timeline struct {
	next httpfault.HTTPClient

	mu    sync.Mutex // protects spans
	spans [][2]time.Time
}

func (t *timeline) Do(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.Do(req)
	end := time.Now()
	t.mu.Lock()
	t.spans = append(t.spans, [2]time.Time{start, end})
	t.mu.Unlock()
	return resp, err
}

func (t *timeline) reset() {
	t.mu.Lock()
	t.spans = t.spans[:0]
	t.mu.Unlock()
}

// depth returns the length of the longest chain of recorded requests in
// which each was sent after the previous one's response had come.
func (t *timeline) depth() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	spans := slices.Clone(t.spans)
	slices.SortFunc(spans, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	depth := make([]int, len(spans))
	longest := 0
	for i, s := range spans {
		depth[i] = 1
		for j := range i {
			if !spans[j][1].After(s[0]) {
				depth[i] = max(depth[i], depth[j]+1)
			}
		}
		longest = max(longest, depth[i])
	}
	return longest
}
