package bench_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/httpfault"
)

// concurrencies are the numbers of workers of BenchmarkCycle, each on its
// own lock ID.
var concurrencies = []int{1, 8, 32}

// BenchmarkCycle measures uncontended acquire + release cycles per second,
// with 1, 8 and 32 workers on distinct lock IDs, for the floor, DynaLock
// and the peer, one after the other at each concurrency. One op is one
// cycle; ns/op is wall time per cycle across the workers.
func BenchmarkCycle(b *testing.B) {
	ctx := context.Background()
	db, counter := newDB(srv)
	table := lockTable(b, db)
	peerTable := table + "-peer"
	if err := createPeerTable(ctx, db, peerTable); err != nil {
		b.Fatal(err)
	}
	for _, n := range concurrencies {
		for _, impl := range implNames {
			t := table
			if impl == implPeer {
				t = peerTable
			}
			cycles := make([]cycleFunc, n)
			for w := range cycles {
				var err error
				if cycles[w], err = newCycle(ctx, impl, db, t, fmt.Sprintf("cycle-%s-%d-%d", impl, n, w)); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("conc="+strconv.Itoa(n)+"/impl="+impl, func(b *testing.B) {
				runCycles(b, cycles, counter)
			})
		}
	}
}

// runSlice runs the cycles, one worker each, until d has passed, and
// returns how many cycles were done and how long the workers took.
func runSlice(ctx context.Context, cycles []cycleFunc, d time.Duration) (int, time.Duration, error) {
	start := time.Now()
	stop := start.Add(d)
	var (
		done atomic.Int64
		wg   sync.WaitGroup
		errs = make([]error, len(cycles))
	)
	for w, cycle := range cycles {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if errs[w] = cycle(ctx); errs[w] != nil {
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return int(done.Load()), time.Since(start), errors.Join(errs...)
}

// runCycles runs b.N cycles spread over one worker per cycle function and
// reports cycles/s and DynamoDB requests per cycle.
func runCycles(b *testing.B, cycles []cycleFunc, counter *httpfault.Client) {
	ctx := context.Background()
	b.ReportAllocs()
	counter.Reset()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make([]error, len(cycles))
	)
	b.ResetTimer()
	for w, cycle := range cycles {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if errs[w] = cycle(ctx); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
	b.ReportMetric(float64(counter.Total())/float64(b.N), "req/op")
}
