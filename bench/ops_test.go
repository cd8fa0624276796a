package bench_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"cirello.io/dynamolock/v2"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/bench/internal/rawreq"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
)

// op is one measured operation: before and after run untimed around each
// run of do, and only do's DynamoDB requests are counted.
type op struct {
	before, do, after func(context.Context) error
}

// BenchmarkOps measures the single operations: DynamoDB requests per
// operation (req/op) and latency (ns/op, p50-ms) of an acquire, a release,
// an extend and a contended attempt (one try on a lock another holder
// has), for DynaLock and the peer; DynaLock's Lease.Complete with one
// application item (a TransactWriteItems) and, beside
// it, the token-fenced UpdateItem of that item alone; and both floors'
// acquire and release, whose latency is the round trip the other figures
// are counted in.
func BenchmarkOps(b *testing.B) {
	ctx := context.Background()
	db, counter := newDB(srv)
	table := lockTable(b, db)
	peerTable, appTable := table+"-peer", table+"-app"
	if err := createPeerTable(ctx, db, peerTable); err != nil {
		b.Fatal(err)
	}
	if err := createAppTable(ctx, db, appTable); err != nil {
		b.Fatal(err)
	}

	f, err := captureFloor(ctx, db, table, "ops-floor")
	if err != nil {
		b.Fatal(err)
	}
	fAcquire, fRelease := f.pair()
	floorOps := []struct {
		name string
		op   op
	}{
		{"acquire", op{do: fAcquire, after: fRelease}},
		{"release", op{before: fAcquire, do: fRelease}},
	}
	for _, o := range floorOps {
		b.Run("impl=floor/op="+o.name, func(b *testing.B) { measureOp(b, counter, o.op) })
	}

	var owner string
	mAcquire := func(ctx context.Context) error {
		owner = rawreq.NewID()
		_, err := db.UpdateItem(ctx, rawreq.MinimalAcquire(table, "ops-minimal", owner, time.Now(), defaults.TTL, defaults.Skew))
		return err
	}
	mRelease := func(ctx context.Context) error {
		_, err := db.UpdateItem(ctx, rawreq.MinimalRelease(table, "ops-minimal", owner))
		return err
	}
	for _, o := range []struct {
		name string
		op   op
	}{
		{"acquire", op{do: mAcquire, after: mRelease}},
		{"release", op{before: mAcquire, do: mRelease}},
	} {
		b.Run("impl=minimal/op="+o.name, func(b *testing.B) { measureOp(b, counter, o.op) })
	}

	c, err := newClient(db, table, lock.Config{Owner: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	other, err := newClient(db, table, lock.Config{Owner: "other"})
	if err != nil {
		b.Fatal(err)
	}
	held, err := other.Lock("ops-held").Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer held.Release(ctx)
	var lease *lock.Lease
	acquire := func(ctx context.Context) (err error) { lease, err = c.Lock("ops").Acquire(ctx); return err }
	release := func(ctx context.Context) error { return lease.Release(ctx) }
	dynaOps := []struct {
		name string
		op   op
	}{
		{"acquire", op{do: acquire, after: release}},
		{"release", op{before: acquire, do: release}},
		{"extend", op{before: acquire, do: func(ctx context.Context) error { return lease.Extend(ctx, 0) }, after: release}},
		{"write-release", op{before: acquire, do: func(ctx context.Context) error {
			return lease.Complete(ctx, nil, types.TransactWriteItem{Update: appWrite(appTable, "ops", lease.FencingToken(), false)})
		}}},
		{"app-write", op{before: acquire, do: func(ctx context.Context) error {
			_, err := db.UpdateItem(ctx, updateInput(appWrite(appTable, "ops", lease.FencingToken(), true)))
			return err
		}, after: release}},
		{"contended", op{do: func(ctx context.Context) error {
			_, err := c.Lock("ops-held").Acquire(ctx)
			if errors.Is(err, lock.ErrLockAlreadyAcquired) {
				return nil
			}
			return errors.Join(errors.New("a held lock was not refused"), err)
		}}},
	}
	for _, o := range dynaOps {
		b.Run("impl=dynalock/op="+o.name, func(b *testing.B) { measureOp(b, counter, o.op) })
	}

	p, err := newPeer(db, peerTable, "bench")
	if err != nil {
		b.Fatal(err)
	}
	pOther, err := newPeer(db, peerTable, "other")
	if err != nil {
		b.Fatal(err)
	}
	pHeld, err := pOther.AcquireLockWithContext(ctx, "ops-held", dynamolock.FailIfLocked())
	if err != nil {
		b.Fatal(err)
	}
	defer pOther.ReleaseLockWithContext(ctx, pHeld)
	var pl *dynamolock.Lock
	pAcquire := func(ctx context.Context) (err error) {
		pl, err = p.AcquireLockWithContext(ctx, "ops", dynamolock.FailIfLocked())
		return err
	}
	pRelease := func(ctx context.Context) error { _, err := p.ReleaseLockWithContext(ctx, pl); return err }
	peerOps := []struct {
		name string
		op   op
	}{
		{"acquire", op{do: pAcquire, after: pRelease}},
		{"release", op{before: pAcquire, do: pRelease}},
		{"extend", op{before: pAcquire, do: func(ctx context.Context) error { return p.SendHeartbeatWithContext(ctx, pl) }, after: pRelease}},
		{"contended", op{do: func(ctx context.Context) error {
			_, err := p.AcquireLockWithContext(ctx, "ops-held", dynamolock.FailIfLocked())
			if isPeerHeld(err) {
				return nil
			}
			return errors.Join(errors.New("a held lock was not refused"), err)
		}}},
	}
	for _, o := range peerOps {
		b.Run("impl=peer/op="+o.name, func(b *testing.B) { measureOp(b, counter, o.op) })
	}
}

// pair returns the floor's acquire and release as operations: each acquire
// with a fresh lease ID, the release with the last acquire's.
func (f floor) pair() (acquire, release func(context.Context) error) {
	var lease string
	acquire = func(ctx context.Context) error {
		lease = rawreq.NewID()
		_, err := f.db.UpdateItem(ctx, withLease(f.acquire, lease))
		return err
	}
	release = func(ctx context.Context) error {
		_, err := f.db.UpdateItem(ctx, withLease(f.release, lease))
		return err
	}
	return acquire, release
}

// req returns the floor's acquire (or release) request as an operation,
// as it was captured: repeated, an acquire is a retry of one lease's.
func req(f floor, acquire bool) func(context.Context) error {
	in := f.release
	if acquire {
		in = f.acquire
	}
	return func(ctx context.Context) error { _, err := f.db.UpdateItem(ctx, in); return err }
}

// measureOp runs o b.N times, timing and counting the requests of o.do
// only, and reports req/op and the median latency.
func measureOp(b *testing.B, counter *httpfault.Client, o op) {
	ctx := context.Background()
	run := func(f func(context.Context) error) {
		if f != nil {
			if err := f(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	lat := make([]time.Duration, 0, b.N)
	requests := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		run(o.before)
		n := counter.Total()
		b.StartTimer()
		start := time.Now()
		run(o.do)
		lat = append(lat, time.Since(start))
		b.StopTimer()
		requests += counter.Total() - n
		run(o.after)
	}
	b.ReportMetric(float64(requests)/float64(b.N), "req/op")
	b.ReportMetric(ms(quantile(lat, 0.5)), "p50-ms")
}
