package bench_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"cirello.io/dynamolock/v2"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/lock"
)

// Waiters of BenchmarkWaiters: how many wait at once, how long, and from
// when their requests are counted (after a DynaLock waiter's step has
// grown to its maximum).
const (
	waiters      = 8
	waitFor      = 6500 * time.Millisecond
	waitSteadyAt = 2000 * time.Millisecond
)

// waiterKinds are the ways a DynaLock waiter can wait, which
// BenchmarkWaiters compares: the lock's default (an eventually consistent
// GetItem between writes, as a *dynamodb.Client allows), consistent reads
// instead (a client that makes every GetItem consistent), and no reads at
// all (a client with only the methods lock.DynamoDBAPI asks for: a failed
// conditional write at every step, DynaLock's waiting before issue 22).
var waiterKinds = []struct {
	name string
	db   func(*dynamodb.Client) lock.DynamoDBAPI
}{
	{"dynalock", func(db *dynamodb.Client) lock.DynamoDBAPI { return db }},
	{"consistent", func(db *dynamodb.Client) lock.DynamoDBAPI { return consistentReads{db} }},
	{"writes", func(db *dynamodb.Client) lock.DynamoDBAPI { return writesOnly{db} }},
}

// BenchmarkWaiters measures what contention costs: 8 waiters wait at
// once, each for a lock that another holder keeps, for 6.5 s: DynaLock's
// (lock.WithWait(lock.WaitForever), default steps) of each kind in
// waiterKinds in turn, then the peer's (its default 1 s refresh). It
// reports each one's requests per waiter-minute, counted from 2 s on,
// and their capacity: read units as DynamoDB reports them, write units
// of failed conditional writes computed from the item's size. And that
// the waiters do not slow the holder: the median of its extends while
// nobody waits and while each kind of waiter waits.
func BenchmarkWaiters(b *testing.B) {
	ctx := context.Background()
	plain, _ := newDB(srv)
	table := lockTable(b, plain)
	peerTable := table + "-peer"
	if err := createPeerTable(ctx, plain, peerTable); err != nil {
		b.Fatal(err)
	}
	holder, err := newClient(plain, table, lock.Config{Owner: typicalOwner, Metadata: typicalMetadata})
	if err != nil {
		b.Fatal(err)
	}
	pm := &meter{}
	pHolder, err := newPeer(plain, peerTable, typicalOwner)
	if err != nil {
		b.Fatal(err)
	}
	pWaiter, err := newPeer(newMeteredDB(pm), peerTable, "waiter")
	if err != nil {
		b.Fatal(err)
	}
	for n := range b.N {
		var leases []*lock.Lease
		for i := range waiters {
			l, err := holder.Lock(fmt.Sprintf("wait-%d-%d", n, i)).Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			leases = append(leases, l)
		}
		// The holder alone.
		b.ReportMetric(ms(holderExtends(ctx, b, leases, waitFor-waitSteadyAt)), "holder-extend-alone-p50-ms")
		for _, k := range waiterKinds {
			m := &meter{}
			waiter, err := newClient(k.db(newMeteredDB(m)), table, lock.Config{Owner: "waiter"})
			if err != nil {
				b.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, waitFor)
			var wg sync.WaitGroup
			for i := range waiters {
				id := fmt.Sprintf("wait-%d-%d", n, i)
				wg.Go(func() { _, _ = waiter.Lock(id).Acquire(wctx, lock.WithWait(lock.WaitForever)) })
			}
			time.Sleep(waitSteadyAt)
			m.take()
			p50 := holderExtends(ctx, b, leases, time.Until(deadlineOf(wctx))-100*time.Millisecond)
			wg.Wait()
			cancel()
			reportWaiting(b, k.name, m.take())
			b.ReportMetric(ms(p50), "holder-extend-"+k.name+"-p50-ms")
		}
		for _, l := range leases {
			_ = l.Release(ctx)
		}
		var pLocks []*dynamolock.Lock
		for i := range waiters {
			pl, err := pHolder.AcquireLockWithContext(ctx, fmt.Sprintf("wait-%d-%d", n, i), dynamolock.FailIfLocked())
			if err != nil {
				b.Fatal(err)
			}
			pLocks = append(pLocks, pl)
		}
		wctx, cancel := context.WithTimeout(ctx, waitFor)
		var wg sync.WaitGroup
		for i := range waiters {
			id := fmt.Sprintf("wait-%d-%d", n, i)
			wg.Go(func() { _, _ = pWaiter.AcquireLockWithContext(wctx, id) })
		}
		time.Sleep(waitSteadyAt)
		pm.take()
		wg.Wait()
		cancel()
		reportWaiting(b, "peer", pm.take())
		for _, pl := range pLocks {
			_, _ = pHolder.ReleaseLockWithContext(ctx, pl)
		}
	}
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// reportWaiting reports the steady part of a waiting phase's usage u,
// per waiter-minute.
func reportWaiting(b *testing.B, name string, u usage) {
	steady := (waitFor - waitSteadyAt).Minutes() * waiters
	b.ReportMetric(float64(u.requests)/steady, name+"-requests/min")
	b.ReportMetric((u.wcu+u.computedWCU)/steady, name+"-wcu/min")
	b.ReportMetric(u.rcu/steady, name+"-rcu/min")
}

// holderExtends extends leases in turn for d and returns the median time
// an extend took.
func holderExtends(ctx context.Context, b *testing.B, leases []*lock.Lease, d time.Duration) time.Duration {
	var took []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end); {
		l := leases[len(took)%len(leases)]
		start := time.Now()
		if err := l.Extend(ctx, 0); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		time.Sleep(5 * time.Millisecond)
	}
	return quantile(took, 0.5)
}

// consistentReads is a DynamoDB client whose GetItems are all consistent.
type consistentReads struct{ *dynamodb.Client }

func (c consistentReads) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	cp := *in
	cp.ConsistentRead = new(true)
	return c.Client.GetItem(ctx, &cp, opts...)
}

// writesOnly is a DynamoDB client with only the methods lock.DynamoDBAPI
// asks for: no GetItem.
type writesOnly struct{ db *dynamodb.Client }

func (w writesOnly) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return w.db.UpdateItem(ctx, in, opts...)
}

func (w writesOnly) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return w.db.TransactWriteItems(ctx, in, opts...)
}
