package bench_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"cirello.io/dynamolock/v2"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/bench/internal/capacity"
	"github.com/dynalock/dynalock/bench/internal/rawreq"
	"github.com/dynalock/dynalock/lock"
)

// meter asks DynamoDB for the capacity of every request through a client
// (ReturnConsumedCapacity TOTAL, set on each request as it is sent) and
// adds it up. A conditional write whose condition failed is answered with
// an error and no capacity, yet consumes write units by the size of the
// item as it is: the meter computes those from the item that the error
// carries (ReturnValuesOnConditionCheckFailure ALL_OLD), by DynamoDB's
// rules (package capacity), and keeps them apart.
type meter struct {
	mu          sync.Mutex // protects the fields below
	wcu, rcu    float64    // reported by DynamoDB
	computedWCU float64    // computed, for failed conditional writes
	requests    int
}

// option adds the meter to a client's options.
func (m *meter) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("BenchCapacity", m.handle), middleware.After)
	})
}

func (m *meter) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	const total = types.ReturnConsumedCapacityTotal
	switch p := in.Parameters.(type) {
	case *dynamodb.UpdateItemInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.PutItemInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.DeleteItemInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.GetItemInput:
		p.ReturnConsumedCapacity = total
	case *dynamodb.TransactWriteItemsInput:
		p.ReturnConsumedCapacity = total
	}
	out, md, err := next.HandleInitialize(ctx, in)
	units := func(c *types.ConsumedCapacity) float64 {
		if c == nil || c.CapacityUnits == nil {
			return 0
		}
		return *c.CapacityUnits
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests++
	switch r := out.Result.(type) {
	case *dynamodb.UpdateItemOutput:
		m.wcu += units(r.ConsumedCapacity)
	case *dynamodb.PutItemOutput:
		m.wcu += units(r.ConsumedCapacity)
	case *dynamodb.DeleteItemOutput:
		m.wcu += units(r.ConsumedCapacity)
	case *dynamodb.GetItemOutput:
		m.rcu += units(r.ConsumedCapacity)
	case *dynamodb.TransactWriteItemsOutput:
		for _, c := range r.ConsumedCapacity {
			m.wcu += units(&c)
		}
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		m.computedWCU += capacity.WriteUnits(capacity.ItemSize(ccf.Item))
	}
	return out, md, err
}

// usage is the capacity of some requests.
type usage struct {
	wcu, rcu, computedWCU float64
	requests              int
}

// take returns the capacity added up since the last take.
func (m *meter) take() usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := usage{m.wcu, m.rcu, m.computedWCU, m.requests}
	m.wcu, m.rcu, m.computedWCU, m.requests = 0, 0, 0, 0
	return u
}

// newMeteredDB returns a client of the server whose requests m meters.
func newMeteredDB(m *meter) *dynamodb.Client {
	return srv.Client(func(o *dynamodb.Options) { o.HTTPClient = newHTTPClient() }, m.option)
}

// Typical holder details, as a Lambda function stores them: its name and
// log stream as the owner, the invocation's request ID, a little metadata,
// and a host name as long as a Lambda sandbox's.
var (
	typicalOwner     = "reserve-stock/2026/11/25/[$LATEST]4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a"
	typicalRequestID = "8f5e2b7c-1d3a-4e6f-9b8c-7a6d5e4f3c2b"
	typicalMetadata  = map[string]string{"function": "reserve-stock", "version": "42"}
	typicalHost      = "169.254.76.1-sandbox-0f1e2d3c4b5a" // 32 bytes
)

// typicalSize is the size of a lock item as DynamoDB counts it, with the
// Host attribute (this machine's name) replaced by typicalHost.
func typicalSize(item map[string]types.AttributeValue) int {
	size := capacity.ItemSize(item)
	if h, ok := item[rawreq.Host].(*types.AttributeValueMemberS); ok {
		size += len(typicalHost) - len(h.Value)
	}
	return size
}

// itemSize reads the item of id in table (consistently, through an
// unmetered client) and returns its typical size.
func itemSize(ctx context.Context, b *testing.B, db *dynamodb.Client, table, keyName, id string) int {
	b.Helper()
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, ConsistentRead: new(true),
		Key: map[string]types.AttributeValue{keyName: &types.AttributeValueMemberS{Value: id}}})
	if err != nil {
		b.Fatal(err)
	}
	return typicalSize(out.Item)
}

// BenchmarkCapacity measures the capacity of each operation as DynamoDB
// Local reports it (ReturnConsumedCapacity), which it computes from item
// sizes by DynamoDB's rules, with typical holder details: DynaLock's
// acquire, extend, release, contended attempt (computed: a failed
// condition reports none), an operator's force-release, a token-fenced
// write of one application item, and Lease.Complete with that item (the
// write and the release in one transaction); the floors' acquire and
// release; the peer's acquire (a consistent GetItem and a
// PutItem), heartbeat, release and contended attempt (a consistent
// GetItem). It also reports the largest size of each one's lock item. One
// op is one of each operation; the figures are per operation.
func BenchmarkCapacity(b *testing.B) {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: typicalRequestID})
	m := &meter{}
	db := newMeteredDB(m)
	plain, _ := newDB(srv)
	table := lockTable(b, plain)
	peerTable, appTable := table+"-peer", table+"-app"
	if err := createPeerTable(ctx, plain, peerTable); err != nil {
		b.Fatal(err)
	}
	if err := createAppTable(ctx, plain, appTable); err != nil {
		b.Fatal(err)
	}
	pk := admin.Table.PartitionKey

	b.Run("impl=dynalock", func(b *testing.B) {
		c, err := newClient(db, table, lock.Config{Owner: typicalOwner, Metadata: typicalMetadata})
		if err != nil {
			b.Fatal(err)
		}
		other, err := newClient(db, table, lock.Config{Owner: strings.Replace(typicalOwner, "4f1c", "9a9a", 1)})
		if err != nil {
			b.Fatal(err)
		}
		const id = "sku-12345"
		sum := map[string]usage{}
		add := func(op string) { sum[op] = addUsage(sum[op], m.take()) }
		size := 0
		for range b.N {
			m.take()
			l, err := c.Lock(id).Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			add("acquire")
			size = max(size, itemSize(ctx, b, plain, table, pk, id))
			if err := l.Extend(ctx, 0); err != nil {
				b.Fatal(err)
			}
			add("extend")
			if _, err := other.Lock(id).Acquire(ctx); !errors.Is(err, lock.ErrLockAlreadyAcquired) {
				b.Fatalf("contended attempt: %v", err)
			}
			add("contended")
			if _, err := db.UpdateItem(ctx, updateInput(appWrite(appTable, id, l.FencingToken(), true))); err != nil {
				b.Fatal(err)
			}
			add("app-write")
			if err := l.Release(ctx); err != nil {
				b.Fatal(err)
			}
			add("release")
			size = max(size, itemSize(ctx, b, plain, table, pk, id))

			if l, err = c.Lock(id).Acquire(ctx); err != nil {
				b.Fatal(err)
			}
			m.take()
			if _, err := db.UpdateItem(ctx, admin.ForceReleaseInput(table, id, l.LeaseID(), l.FencingToken(),
				"ops@example.com", "stuck after deploy 42", time.Now())); err != nil {
				b.Fatal(err)
			}
			add("force-release")
			size = max(size, itemSize(ctx, b, plain, table, pk, id))

			if l, err = c.Lock(id).Acquire(ctx); err != nil {
				b.Fatal(err)
			}
			m.take()
			if err := l.Complete(ctx, nil, types.TransactWriteItem{Update: appWrite(appTable, id, l.FencingToken(), false)}); err != nil {
				b.Fatal(err)
			}
			add("write-release")
		}
		reportUsage(b, sum)
		b.ReportMetric(float64(size), "item-bytes")
	})

	b.Run("impl=floor", func(b *testing.B) {
		f, err := captureFloor(ctx, db, table, "floor-sku")
		if err != nil {
			b.Fatal(err)
		}
		acquire, release := f.pair()
		floorUsage(b, m, acquire, release)
	})

	b.Run("impl=minimal", func(b *testing.B) {
		const id = "minimal-sku"
		var owner string
		floorUsage(b, m, func(ctx context.Context) error {
			owner = rawreq.NewID()
			_, err := db.UpdateItem(ctx, rawreq.MinimalAcquire(table, id, owner, time.Now(), defaults.TTL, defaults.Skew))
			return err
		}, func(ctx context.Context) error {
			_, err := db.UpdateItem(ctx, rawreq.MinimalRelease(table, id, owner))
			return err
		})
		b.ReportMetric(float64(itemSize(ctx, b, plain, table, pk, id)), "item-bytes")
	})

	b.Run("impl=peer", func(b *testing.B) {
		p, err := newPeer(db, peerTable, typicalOwner)
		if err != nil {
			b.Fatal(err)
		}
		other, err := newPeer(db, peerTable, "other")
		if err != nil {
			b.Fatal(err)
		}
		const id = "sku-12345"
		sum := map[string]usage{}
		add := func(op string) { sum[op] = addUsage(sum[op], m.take()) }
		size := 0
		for range b.N {
			m.take()
			l, err := p.AcquireLockWithContext(ctx, id, dynamolock.FailIfLocked())
			if err != nil {
				b.Fatal(err)
			}
			add("acquire")
			size = max(size, itemSize(ctx, b, plain, peerTable, "key", id))
			if err := p.SendHeartbeatWithContext(ctx, l); err != nil {
				b.Fatal(err)
			}
			add("extend")
			if _, err := other.AcquireLockWithContext(ctx, id, dynamolock.FailIfLocked()); !isPeerHeld(err) {
				b.Fatalf("contended attempt: %v", err)
			}
			add("contended")
			if _, err := p.ReleaseLockWithContext(ctx, l); err != nil {
				b.Fatal(err)
			}
			add("release")
			size = max(size, itemSize(ctx, b, plain, peerTable, "key", id))
		}
		reportUsage(b, sum)
		b.ReportMetric(float64(size), "item-bytes")
	})
}

// floorUsage measures the capacity of a floor's acquire and release.
func floorUsage(b *testing.B, m *meter, acquire, release func(context.Context) error) {
	ctx := context.Background()
	sum := map[string]usage{}
	for range b.N {
		m.take()
		if err := acquire(ctx); err != nil {
			b.Fatal(err)
		}
		sum["acquire"] = addUsage(sum["acquire"], m.take())
		if err := release(ctx); err != nil {
			b.Fatal(err)
		}
		sum["release"] = addUsage(sum["release"], m.take())
	}
	reportUsage(b, sum)
}

func addUsage(a, b usage) usage {
	return usage{a.wcu + b.wcu, a.rcu + b.rcu, a.computedWCU + b.computedWCU, a.requests + b.requests}
}

// reportUsage reports each operation's capacity per run: "<op>-wcu" and
// "<op>-rcu" as DynamoDB reported them, "<op>-computed-wcu" for failed
// conditional writes.
func reportUsage(b *testing.B, sum map[string]usage) {
	for op, u := range sum {
		n := float64(b.N)
		b.ReportMetric(u.wcu/n, op+"-wcu")
		b.ReportMetric(u.rcu/n, op+"-rcu")
		b.ReportMetric(float64(u.requests)/n, op+"-req")
		if u.computedWCU > 0 {
			b.ReportMetric(u.computedWCU/n, op+"-computed-wcu")
		}
	}
}
