package bench_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"cirello.io/dynamolock/v2"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
)

// Handoff rounds: a holder holds a lock for a random time while waiters
// wait for it with the default wait settings; the round ends when the
// first waiter has it.
const (
	handoffWaiters  = 3
	handoffMaxHold  = 200 * time.Millisecond
	handoffRounds   = 80 // DynaLock's rounds: about 12 s
	peerHandoffRuns = 25 // the peer's, a second each

	// peerRefresh is the peer's default refresh period: its wait step.
	peerRefresh = time.Second
)

// handoff is one round's outcome.
type handoff struct {
	gap  time.Duration // from the release's return to the waiter's acquire
	rtt  time.Duration // the release's round trip
	step time.Duration // the winning waiter's wait step when the lock was released
}

// BenchmarkHandoff measures handoff under contention: the time from a
// holder's release (its return) to the first of 3 waiters' acquire, the
// holder having held the lock for a random time up to 200 ms. DynaLock's
// waiters use lock.WithWait(lock.WaitForever) and the default retry
// intervals; the peer's, its default refresh period (1 s). One op is a
// whole set of rounds (80 for DynaLock, 25 for the peer); it reports the median and 99th percentile gap, and
// for DynaLock the median wait step at the release and the median round
// trip, the target being p50 ≤ step + round trip.
func BenchmarkHandoff(b *testing.B) {
	ctx := context.Background()
	db, _ := newDB(srv)
	table := lockTable(b, db)
	peerTable := table + "-peer"
	if err := createPeerTable(ctx, db, peerTable); err != nil {
		b.Fatal(err)
	}
	for _, k := range waiterKinds {
		if k.name == "consistent" {
			continue // DynamoDB Local answers both reads alike
		}
		b.Run("impl="+k.name, func(b *testing.B) {
			var hs []handoff
			for range b.N {
				hs = append(hs, dynaHandoffs(b, table, handoffRounds, k.db)...)
			}
			reportHandoffs(b, hs)
		})
	}
	b.Run("impl=peer", func(b *testing.B) {
		var hs []handoff
		for range b.N {
			hs = append(hs, peerHandoffs(b, peerTable, peerHandoffRuns)...)
		}
		reportHandoffs(b, hs)
	})
}

func reportHandoffs(b *testing.B, hs []handoff) {
	gaps, rtts, steps := make([]time.Duration, len(hs)), make([]time.Duration, len(hs)), make([]time.Duration, len(hs))
	for i, h := range hs {
		gaps[i], rtts[i], steps[i] = h.gap, h.rtt, h.step
	}
	b.ReportMetric(ms(quantile(gaps, 0.5)), "p50-ms")
	b.ReportMetric(ms(quantile(gaps, 0.99)), "p99-ms")
	b.ReportMetric(ms(quantile(steps, 0.5)), "step-p50-ms")
	b.ReportMetric(ms(quantile(rtts, 0.5)), "rtt-p50-ms")
}

// readStep is the lock's cap on the wait step of a waiter that reads
// between its writes: 8/5 of its cap between writes (lock.lookStepPer5,
// unexported).
var readStep = defaults.MaxRetry / 5 * 8

// waiterStep returns the wait step of a DynaLock waiter that slept
// sleeps times: the step of its last sleep (0 for none), per the lock's
// default retry intervals, capped at maxStep.
func waiterStep(sleeps int, maxStep time.Duration) time.Duration {
	if sleeps < 1 {
		return 0
	}
	step := defaults.RetryInterval
	for range sleeps - 1 {
		step = min(step+step/2, maxStep)
	}
	return step
}

// dynaHandoffs runs DynaLock handoff rounds.
func dynaHandoffs(b *testing.B, table string, rounds int, wrap func(*dynamodb.Client) lock.DynamoDBAPI) []handoff {
	ctx := context.Background()
	db, _ := newDB(srv)
	holder, err := newClient(db, table, lock.Config{Owner: "holder"})
	if err != nil {
		b.Fatal(err)
	}
	waiters := make([]*lock.Client, handoffWaiters)
	counters := make([]*httpfault.Client, handoffWaiters)
	for i := range waiters {
		var wdb *dynamodb.Client
		wdb, counters[i] = newDB(srv)
		if waiters[i], err = newClient(wrap(wdb), table, lock.Config{Owner: fmt.Sprint("waiter-", i)}); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	out := make([]handoff, 0, rounds)
	for r := range rounds {
		id := fmt.Sprint("handoff-", r)
		held, err := holder.Lock(id).Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		var (
			wctx, cancel = context.WithCancel(ctx)
			wg           sync.WaitGroup
			mu           sync.Mutex // protects won, at, sleeps
			won          *lock.Lease
			at           time.Time
			sleeps       int
			maxStep      = defaults.MaxRetry
		)
		for i, w := range waiters {
			wg.Go(func() {
				writes, gets := counters[i].Count("UpdateItem"), counters[i].Count("GetItem")
				l, err := w.Lock(id).Acquire(wctx, lock.WithWait(lock.WaitForever))
				if err != nil {
					return // cancelled: another waiter won
				}
				now := time.Now()
				writes, gets = counters[i].Count("UpdateItem")-writes, counters[i].Count("GetItem")-gets
				mu.Lock()
				// A sleep before each read; between writes, for a waiter
				// that does not read.
				won, at, sleeps = l, now, gets+writes-1
				if gets > 0 {
					won, at, sleeps, maxStep = l, now, gets, readStep
				}
				mu.Unlock()
				cancel()
			})
		}
		time.Sleep(time.Duration(rng.Int64N(int64(handoffMaxHold))))
		start := time.Now()
		if err := held.Release(ctx); err != nil {
			b.Fatal(err)
		}
		end := time.Now()
		wg.Wait()
		cancel()
		if won == nil {
			b.Fatal("no waiter acquired the released lock")
		}
		if err := won.Release(ctx); err != nil {
			b.Fatal(err)
		}
		out = append(out, handoff{gap: max(at.Sub(end), 0), rtt: end.Sub(start), step: waiterStep(sleeps, maxStep)})
	}
	return out
}

// peerHandoffs runs the peer's handoff rounds.
func peerHandoffs(b *testing.B, table string, rounds int) []handoff {
	ctx := context.Background()
	db, _ := newDB(srv)
	holder, err := newPeer(db, table, "holder")
	if err != nil {
		b.Fatal(err)
	}
	waiters := make([]*dynamolock.Client, handoffWaiters)
	for i := range waiters {
		wdb, _ := newDB(srv)
		if waiters[i], err = newPeer(wdb, table, fmt.Sprint("waiter-", i)); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	out := make([]handoff, 0, rounds)
	for r := range rounds {
		id := fmt.Sprint("handoff-", r)
		held, err := holder.AcquireLockWithContext(ctx, id, dynamolock.FailIfLocked())
		if err != nil {
			b.Fatal(err)
		}
		var (
			wctx, cancel = context.WithCancel(ctx)
			wg           sync.WaitGroup
			mu           sync.Mutex // protects won, by, at
			won          *dynamolock.Lock
			by           *dynamolock.Client
			at           time.Time
		)
		for _, w := range waiters {
			wg.Go(func() {
				l, err := w.AcquireLockWithContext(wctx, id)
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						b.Error(err)
					}
					return
				}
				now := time.Now()
				mu.Lock()
				won, by, at = l, w, now
				mu.Unlock()
				cancel()
			})
		}
		time.Sleep(time.Duration(rng.Int64N(int64(handoffMaxHold))))
		start := time.Now()
		if _, err := holder.ReleaseLockWithContext(ctx, held); err != nil {
			b.Fatal(err)
		}
		end := time.Now()
		wg.Wait()
		cancel()
		if won == nil {
			b.Fatal("no waiter acquired the released lock")
		}
		if _, err := by.ReleaseLockWithContext(ctx, won); err != nil {
			b.Fatal(err)
		}
		out = append(out, handoff{gap: max(at.Sub(end), 0), rtt: end.Sub(start), step: peerRefresh})
	}
	return out
}

// takeoverTTL is the lease of the holders that die in BenchmarkTakeover:
// short, to keep the benchmark short; the delay past it does not depend on
// it.
const (
	takeoverTTL    = 2 * time.Second
	takeoverTrials = 4
	// takeoverLate is when the late waiter arrives: at 75 % of the lease.
	takeoverLate = takeoverTTL * 3 / 4
)

// BenchmarkTakeover measures the takeover of a lock whose holder died: a
// holder takes a lock with a 2 s lease and never releases it; a waiter
// (DynaLock: WithWait(WaitForever), default intervals; peer: its defaults)
// waits from then on. It reports how long after the end of the holder's
// lease, by the holder's clock, the waiter has the lock; 4 trials run at
// once, on distinct IDs. DynaLock takes over by whichever of its two rules
// comes first: the lease version it watched unchanged for the granted
// 2 s, counted on its own clock (the observed-lease rule), or the stored
// end plus its clock-skew tolerance (lock.Config.ClockSkewTolerance, 1 s
// by default) by its wall clock. The waiter watches from the holder's
// acquire on, the peer's best case and DynaLock's observed rule; then
// again with a waiter that arrives late, at 75 % of the lease
// (arrive=75%): the peer must watch a whole lease from its first look,
// DynaLock's wall-clock rule waits only the remainder plus its tolerance.
func BenchmarkTakeover(b *testing.B) {
	ctx := context.Background()
	db, _ := newDB(srv)
	table := lockTable(b, db)
	peerTable := table + "-peer"
	if err := createPeerTable(ctx, db, peerTable); err != nil {
		b.Fatal(err)
	}
	for _, late := range []bool{false, true} {
		arrive, suffix := time.Duration(0), ""
		if late {
			arrive, suffix = takeoverLate, "/arrive=75%"
		}
		b.Run("impl=dynalock"+suffix, func(b *testing.B) {
			holder, err := newClient(db, table, lock.Config{Owner: "dies", TTL: takeoverTTL})
			if err != nil {
				b.Fatal(err)
			}
			waiter, err := newClient(db, table, lock.Config{Owner: "waiter"})
			if err != nil {
				b.Fatal(err)
			}
			var all []time.Duration
			for n := range b.N {
				all = append(all, trials(b, func(i int) (time.Duration, error) {
					id := fmt.Sprintf("takeover-%d-%d%s", n, i, suffix)
					l, err := holder.Lock(id).Acquire(ctx)
					if err != nil {
						return 0, err
					}
					end := l.Deadline().Add(holder.Config().ClockSkewTolerance) // the lease's end
					time.Sleep(arrive)
					w, err := waiter.Lock(id).Acquire(ctx, lock.WithWait(lock.WaitForever))
					if err != nil {
						return 0, err
					}
					took := time.Since(end)
					return took, w.Release(ctx)
				})...)
			}
			reportTakeovers(b, all)
		})
		b.Run("impl=peer"+suffix, func(b *testing.B) {
			holder, err := dynamolock.New(db, peerTable, dynamolock.WithLeaseDuration(takeoverTTL), dynamolock.DisableHeartbeat(), dynamolock.WithOwnerName("dies"))
			if err != nil {
				b.Fatal(err)
			}
			waiter, err := dynamolock.New(db, peerTable, dynamolock.WithLeaseDuration(takeoverTTL), dynamolock.DisableHeartbeat(), dynamolock.WithOwnerName("waiter"))
			if err != nil {
				b.Fatal(err)
			}
			var all []time.Duration
			for n := range b.N {
				all = append(all, trials(b, func(i int) (time.Duration, error) {
					id := fmt.Sprintf("takeover-%d-%d%s", n, i, suffix)
					start := time.Now() // the peer counts its lease from before its write
					if _, err := holder.AcquireLockWithContext(ctx, id, dynamolock.FailIfLocked()); err != nil {
						return 0, err
					}
					time.Sleep(arrive)
					w, err := waiter.AcquireLockWithContext(ctx, id)
					if err != nil {
						return 0, err
					}
					took := time.Since(start.Add(takeoverTTL))
					_, err = waiter.ReleaseLockWithContext(ctx, w)
					return took, err
				})...)
			}
			reportTakeovers(b, all)
		})
	}
}

// trials runs takeoverTrials trials at once.
func trials(b *testing.B, trial func(i int) (time.Duration, error)) []time.Duration {
	out := make([]time.Duration, takeoverTrials)
	errs := make([]error, takeoverTrials)
	var wg sync.WaitGroup
	for i := range takeoverTrials {
		wg.Go(func() { out[i], errs[i] = trial(i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	return out
}

func reportTakeovers(b *testing.B, ds []time.Duration) {
	b.ReportMetric(ms(takeoverTTL), "lease-ms")
	b.ReportMetric(ms(quantile(ds, 0.5)), "after-end-p50-ms")
	b.ReportMetric(ms(quantile(ds, 1)), "after-end-max-ms")
}
