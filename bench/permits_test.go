package bench_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/lock"
)

// permitWaitFor is how long BenchmarkPermits' waiter waits for a full
// semaphore, and permitWaitSteadyAt when its requests start to count
// (after DynaLock's wait step has grown to its maximum).
const (
	permitWaitFor      = 4 * time.Second
	permitWaitSteadyAt = 1500 * time.Millisecond
)

// BenchmarkPermits measures a lock ID of N permits (lock.WithPermits) at
// N = 1, 4 and 16, with typical holder details and N-1 permits held by
// others (so each acquire takes the last one and writes the largest item):
// the requests and write units of an acquire and a release, of an attempt
// refused because every permit is held (computed: a failed condition
// reports none), of taking over a lapsed permit, and the item's size. Once
// per N it also measures one waiter (WithWait, default steps) on a full
// semaphore for 4 s: its requests and write units per minute, counted
// from 1.5 s on.
func BenchmarkPermits(b *testing.B) {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: typicalRequestID})
	m := &meter{}
	db := newMeteredDB(m)
	plain, _ := newDB(srv)
	table := lockTable(b, plain)
	pk := admin.Table.PartitionKey
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("permits=%d", n), func(b *testing.B) {
			id := fmt.Sprintf("tenant-%d", n)
			permits := lock.WithPermits(n)
			c, err := newClient(db, table, lock.Config{Owner: typicalOwner, Metadata: typicalMetadata})
			if err != nil {
				b.Fatal(err)
			}
			others := make([]*lock.Lease, 0, n)
			for range n - 1 {
				l, err := c.Lock(id).Acquire(ctx, permits)
				if err != nil {
					b.Fatal(err)
				}
				others = append(others, l)
			}
			sum := map[string]usage{}
			add := func(op string) { sum[op] = addUsage(sum[op], m.take()) }
			size := 0
			short, err := newClient(db, table, lock.Config{Owner: typicalOwner, Metadata: typicalMetadata, TTL: 300 * time.Millisecond, ClockSkewTolerance: 10 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			for range b.N {
				m.take()
				l, err := c.Lock(id).Acquire(ctx, permits)
				if err != nil {
					b.Fatal(err)
				}
				add("acquire")
				size = max(size, itemSize(ctx, b, plain, table, pk, id))
				if _, err := c.Lock(id).Acquire(ctx, permits); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
					b.Fatalf("attempt on a full semaphore: %v", err)
				}
				add("contended")
				if err := l.Release(ctx); err != nil {
					b.Fatal(err)
				}
				add("release")

				// A holder that lapses, and the acquire that takes its permit.
				if _, err := short.Lock(id).Acquire(ctx, permits); err != nil {
					b.Fatal(err)
				}
				time.Sleep(300*time.Millisecond + 10*time.Millisecond + 5*time.Millisecond)
				m.take()
				if l, err = short.Lock(id).Acquire(ctx, permits); err != nil {
					b.Fatal(err)
				}
				add("takeover")
				_ = l.Release(ctx)
				m.take()
			}
			reportUsage(b, sum)
			b.ReportMetric(float64(size), "item-bytes")

			// One waiter on a full semaphore.
			b.StopTimer()
			full, err := c.Lock(id).Acquire(ctx, permits)
			if err != nil {
				b.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, permitWaitFor)
			done := make(chan error, 1)
			go func() {
				_, err := c.Lock(id).Acquire(wctx, permits, lock.WithWait(lock.WaitForever))
				done <- err
			}()
			time.Sleep(permitWaitSteadyAt)
			m.take()
			err = <-done
			u := m.take()
			cancel()
			if !errors.Is(err, lock.ErrLockAcquisition) {
				b.Fatalf("waiter: %v", err)
			}
			perMin := float64(time.Minute) / float64(permitWaitFor-permitWaitSteadyAt)
			b.ReportMetric(float64(u.requests)*perMin, "waiter-requests/min")
			b.ReportMetric((u.wcu+u.computedWCU)*perMin, "waiter-wcu/min")
			_ = full.Release(ctx)
			for _, l := range others {
				_ = l.Release(ctx)
			}
		})
	}
}
