package bench_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"cirello.io/dynamolock/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/lock"
)

// The critical sections of BenchmarkCriticalSection: acquire, one write to
// an application table, release.
const (
	// csFenced is DynaLock with a token-fenced write: acquire, a
	// conditional UpdateItem that carries the lease's fencing token,
	// release. 3 requests.
	csFenced = "fenced"
	// csWrite is DynaLock with a lease-checked commit-and-release:
	// acquire, then Lease.Complete with the write, the write and the
	// release in one TransactWriteItems. 2 requests.
	csWrite = "write"
	// csPeer is the peer with the same write as csFenced: its acquire (a
	// consistent GetItem and a PutItem), the write, its release. 4
	// requests. The peer has no fencing token; the write carries a counter
	// of the bench's in its place, so it weighs the same but is not fenced.
	csPeer = "peer"
)

var csNames = []string{csFenced, csWrite, csPeer}

// csPairs are the ratios BenchmarkCriticalSection reports.
var csPairs = [][2]string{{csWrite, csFenced}, {csWrite, csPeer}, {csFenced, csPeer}}

// appKey is the application table's partition key.
const appKey = "pk"

// createAppTable creates an application table (partition key appKey, S)
// and waits until it is active.
func createAppTable(ctx context.Context, db *dynamodb.Client, name string) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            &name,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(appKey), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(appKey), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		return err
	}
	return dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &name}, time.Minute)
}

// appWrite is the application's write: it sets the item's value and the
// token of the writer; fenced, only if no later token wrote it.
func appWrite(table, id string, token int64, fenced bool) *types.Update {
	u := &types.Update{
		TableName:                 aws.String(table),
		Key:                       map[string]types.AttributeValue{appKey: &types.AttributeValueMemberS{Value: id}},
		UpdateExpression:          aws.String("SET #v = :v, #tok = :tok"),
		ExpressionAttributeNames:  map[string]string{"#v": "Quantity", "#tok": "LockToken"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(token%1000, 10)}, ":tok": &types.AttributeValueMemberN{Value: strconv.FormatInt(token, 10)}},
	}
	if fenced {
		u.ConditionExpression = aws.String("attribute_not_exists(#tok) OR #tok < :tok")
	}
	return u
}

// updateInput is u as an UpdateItem.
func updateInput(u *types.Update) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression, ConditionExpression: u.ConditionExpression,
		ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues,
	}
}

// newCriticalSection returns impl's critical section on lock id, writing
// the application item id in appTable.
func newCriticalSection(impl string, db *dynamodb.Client, table, peerTable, appTable, id string) (cycleFunc, error) {
	switch impl {
	case csFenced, csWrite:
		c, err := newClient(db, table, lock.Config{})
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			l, err := c.Lock(id).Acquire(ctx)
			if err != nil {
				return err
			}
			if impl == csWrite {
				return l.Complete(ctx, nil, types.TransactWriteItem{Update: appWrite(appTable, id, l.FencingToken(), false)})
			}
			if _, err := db.UpdateItem(ctx, updateInput(appWrite(appTable, id, l.FencingToken(), true))); err != nil {
				return errors.Join(err, l.Release(ctx))
			}
			return l.Release(ctx)
		}, nil
	case csPeer:
		p, err := newPeer(db, peerTable, "bench-peer")
		if err != nil {
			return nil, err
		}
		var n int64 = time.Now().UnixMicro()
		return func(ctx context.Context) error {
			l, err := p.AcquireLockWithContext(ctx, id, dynamolock.FailIfLocked())
			if err != nil {
				return err
			}
			n++
			if _, err := db.UpdateItem(ctx, updateInput(appWrite(appTable, id, n, true))); err != nil {
				_, rerr := p.ReleaseLockWithContext(ctx, l)
				return errors.Join(err, rerr)
			}
			_, err = p.ReleaseLockWithContext(ctx, l)
			return err
		}, nil
	}
	return nil, fmt.Errorf("unknown critical section %q", impl)
}

// csDelays are the latencies BenchmarkCriticalSection adds to every
// request: none (loopback) and 5 ms.
var csDelays = []time.Duration{0, 5 * time.Millisecond}

// BenchmarkCriticalSection measures the shape most users have, one worker
// doing acquire, one conditional write to an application table, release,
// on loopback and with 5 ms added to every request: DynaLock with a
// token-fenced write (3 requests), DynaLock with Lease.Complete of the
// write (2 requests), the peer with the same write (4 requests),
// interleaved. One op is the whole set of rounds; it reports each one's
// sections/s (as cycles/s), the ratios, and the requests of one section.
func BenchmarkCriticalSection(b *testing.B) {
	for _, d := range csDelays {
		b.Run("delay="+delayName(d), func(b *testing.B) {
			criticalSections(b, d)
		})
	}
}

func criticalSections(b *testing.B, d time.Duration) {
	ctx := context.Background()
	db, counter := newDelayedDB(srv, d)
	table := lockTable(b, db)
	peerTable, appTable := table+"-peer", table+"-app"
	if err := createPeerTable(ctx, db, peerTable); err != nil {
		b.Fatal(err)
	}
	if err := createAppTable(ctx, db, appTable); err != nil {
		b.Fatal(err)
	}
	cycles := make(map[string][]cycleFunc)
	reqs := make(map[string]float64)
	for _, impl := range csNames {
		c, err := newCriticalSection(impl, db, table, peerTable, appTable, "cs-"+impl)
		if err != nil {
			b.Fatal(err)
		}
		counter.Reset()
		if err := c(ctx); err != nil {
			b.Fatal(err)
		}
		reqs[impl] = float64(counter.Total())
		cycles[impl] = []cycleFunc{c}
	}
	rounds := ratioRounds()
	if d > 0 {
		rounds = latencyRounds()
	}
	for range b.N {
		r, err := interleave(ctx, cycles, csNames, rounds, ratioSlice)
		if err != nil {
			b.Fatal(err)
		}
		r.report(b, csNames, csPairs)
	}
	for _, impl := range csNames {
		b.ReportMetric(reqs[impl], impl+"-req/op")
	}
}
