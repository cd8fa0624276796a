package middleware_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/middleware"
)

// BenchmarkSQSBatch10 runs a batch of 10 records with distinct keys, with
// a latency added to every DynamoDB request to stand for the network. It
// reports the DynamoDB requests per batch, the time from the batch's start
// until the last handler started (every lock taken) and the whole batch's
// time, in milliseconds and in units of one lone acquire measured on the
// same connection ("acquires"). With the default concurrency the 10
// acquires overlap and take about one acquire's time; with concurrency 1
// they take ten (and nine releases in between).
func BenchmarkSQSBatch10(b *testing.B) {
	batch := events.SQSEvent{}
	for i := range 10 {
		batch.Records = append(batch.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("m-%d", i),
			Body:      fmt.Sprintf(`{"orderId":"o-%d","sku":"SKU-%d","quantity":1}`, i, i),
		})
	}
	for _, bc := range []struct {
		rtt         time.Duration // added to every request
		concurrency int
	}{
		{0, 10},
		{0, 1},
		{10 * time.Millisecond, 10},
		{10 * time.Millisecond, 1},
		{50 * time.Millisecond, 10},
	} {
		b.Run(fmt.Sprintf("rtt=%s/concurrency=%d", bc.rtt, bc.concurrency), func(b *testing.B) {
			e := newEnv(b)
			if bc.rtt > 0 {
				e.net.Rule = func(httpfault.Request) httpfault.Action { return httpfault.Action{Delay: bc.rtt} }
			}
			var mu sync.Mutex
			var lastStart time.Time
			h := must(middleware.WrapSQS(e.c, middleware.SQSBody("sku"),
				func(ctx context.Context, m events.SQSMessage) error {
					mu.Lock()
					defer mu.Unlock()
					lastStart = time.Now()
					return nil
				}, e.opts(middleware.WithConcurrency(bc.concurrency), middleware.WithLogger(discardLogger()))...))(b)
			ctx := context.Background()
			// Warm up the connections and DynamoDB Local.
			for range 10 {
				if _, err := h(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			one := oneAcquire(b, e)
			e.net.Reset()
			var acquireSpan, total time.Duration
			for b.Loop() {
				start := time.Now()
				resp, err := h(ctx, batch)
				if err != nil || len(resp.BatchItemFailures) != 0 {
					b.Fatalf("failures %v, error %v", resp.BatchItemFailures, err)
				}
				total += time.Since(start)
				mu.Lock()
				acquireSpan += lastStart.Sub(start)
				mu.Unlock()
			}
			n := float64(b.N)
			b.ReportMetric(float64(e.net.Count("UpdateItem"))/n, "requests/op")
			b.ReportMetric(float64(acquireSpan.Microseconds())/1000/n, "acquire-ms/op")
			b.ReportMetric(float64(total.Microseconds())/1000/n, "batch-ms/op")
			b.ReportMetric(float64(one.Microseconds())/1000, "one-acquire-ms")
			b.ReportMetric(float64(acquireSpan)/float64(one)/n, "acquire-in-acquires/op")
			b.ReportMetric(float64(total)/float64(one)/n, "batch-in-acquires/op")
		})
	}
}

// oneAcquire returns the mean time of one acquire of a free lock over e's
// connection: one DynamoDB round trip, the unit the batch is measured in.
func oneAcquire(b *testing.B, e *env) time.Duration {
	b.Helper()
	ctx := context.Background()
	const n = 20
	var sum time.Duration
	for i := range n {
		start := time.Now()
		l, err := e.c.Lock(fmt.Sprintf("baseline-%d", i)).Acquire(ctx)
		sum += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return sum / n
}

// BenchmarkAcquireAll10 is the reference for BenchmarkSQSBatch10: the lock
// client taking 10 distinct locks at once, all or none (Client.Lock of 10
// IDs, Acquire), and releasing them, without the middleware.
func BenchmarkAcquireAll10(b *testing.B) {
	for _, rtt := range []time.Duration{0, 10 * time.Millisecond} {
		b.Run(fmt.Sprintf("rtt=%s", rtt), func(b *testing.B) {
			e := newEnv(b)
			if rtt > 0 {
				e.net.Rule = func(httpfault.Request) httpfault.Action { return httpfault.Action{Delay: rtt} }
			}
			ids := make([]string, 10)
			for i := range ids {
				ids[i] = fmt.Sprintf("SKU-%d", i)
			}
			ctx := context.Background()
			var acquire time.Duration
			for b.Loop() {
				start := time.Now()
				lease, err := e.c.Lock(ids...).Acquire(ctx)
				acquire += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				_ = lease.Release(ctx)
			}
			b.ReportMetric(float64(acquire.Microseconds())/1000/float64(b.N), "acquire-ms/op")
		})
	}
}
