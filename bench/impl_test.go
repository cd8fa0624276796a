package bench_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"cirello.io/dynamolock/v2"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/bench/internal/rawreq"
	"github.com/dynalock/dynalock/lock"
)

// The implementations measured side by side.
const (
	// implFloor is the replay floor, the physical limit of DynaLock's
	// requests: the very UpdateItem inputs that a DynaLock cycle sent, sent
	// again straight through the SDK with no library code around them
	// (but a fresh lease ID). What DynaLock costs beyond it is its client.
	implFloor = "floor"
	// implMinimal is the minimal-design floor: the smallest requests a
	// fencing lock needs (rawreq.MinimalAcquire and MinimalRelease), built
	// and sent with the SDK alone. What the replay floor costs beyond it
	// is DynaLock's request design.
	implMinimal = "minimal"
	// implDynaLock is this library.
	implDynaLock = "dynalock"
	// implPeer is cirello.io/dynamolock/v2 (a consistent GetItem and a
	// conditional PutItem to acquire, an UpdateItem to release).
	implPeer = "peer"
)

var implNames = []string{implFloor, implMinimal, implDynaLock, implPeer}

// peerLease is the peer's lease, the same as DynaLock's default TTL.
const peerLease = lock.DefaultTTL

// cycleFunc is one uncontended acquire + release of one lock ID.
type cycleFunc func(context.Context) error

// newCycle returns impl's acquire + release cycle of lock id in table (a
// peer table for implPeer).
func newCycle(ctx context.Context, impl string, db *dynamodb.Client, table, id string) (cycleFunc, error) {
	switch impl {
	case implFloor:
		f, err := captureFloor(ctx, db, table, id)
		if err != nil {
			return nil, err
		}
		return f.cycle, nil
	case implMinimal:
		return minimalCycle(db, table, id), nil
	case implDynaLock:
		c, err := newClient(db, table, lock.Config{})
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			l, err := c.Lock(id).Acquire(ctx)
			if err != nil {
				return err
			}
			return l.Release(ctx)
		}, nil
	case implPeer:
		p, err := newPeer(db, table, "bench-peer")
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			l, err := p.AcquireLockWithContext(ctx, id, dynamolock.FailIfLocked())
			if err != nil {
				return err
			}
			_, err = p.ReleaseLockWithContext(ctx, l)
			return err
		}, nil
	}
	return nil, fmt.Errorf("unknown implementation %q", impl)
}

// recorder passes UpdateItem requests on and keeps their inputs; it
// passes TransactWriteItems on without keeping them.
type recorder struct {
	db lock.DynamoDBAPI

	mu  sync.Mutex // protects ins
	ins []*dynamodb.UpdateItemInput
}

func (r *recorder) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	r.mu.Lock()
	r.ins = append(r.ins, in)
	r.mu.Unlock()
	return r.db.UpdateItem(ctx, in, opts...)
}

func (r *recorder) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return r.db.TransactWriteItems(ctx, in, opts...)
}

// floor is the pair of requests of one DynaLock cycle, sent again as they
// were but for the lease ID, fresh in each cycle as in DynaLock's: a
// replayed acquire goes through because the lease before it was released
// (the lock refuses a released lease's own acquire, a late retry), and
// the lock's item does the same work as for any new lease (the fencing
// counter goes up, the lease attributes are written).
type floor struct {
	db               *dynamodb.Client
	acquire, release *dynamodb.UpdateItemInput
}

// withLease returns a copy of in whose :lease is leaseID.
func withLease(in *dynamodb.UpdateItemInput, leaseID string) *dynamodb.UpdateItemInput {
	c := *in
	c.ExpressionAttributeValues = maps.Clone(in.ExpressionAttributeValues)
	c.ExpressionAttributeValues[":lease"] = &types.AttributeValueMemberS{Value: leaseID}
	return &c
}

// captureFloor records a DynaLock acquire + release of id.
func captureFloor(ctx context.Context, db *dynamodb.Client, table, id string) (floor, error) {
	rec := &recorder{db: db}
	c, err := newClient(rec, table, lock.Config{})
	if err != nil {
		return floor{}, err
	}
	l, err := c.Lock(id).Acquire(ctx)
	if err != nil {
		return floor{}, err
	}
	if err := l.Release(ctx); err != nil {
		return floor{}, err
	}
	if len(rec.ins) != 2 {
		return floor{}, fmt.Errorf("a DynaLock cycle sent %d requests, not 2", len(rec.ins))
	}
	return floor{db: db, acquire: rec.ins[0], release: rec.ins[1]}, nil
}

func (f floor) cycle(ctx context.Context) error {
	lease := rawreq.NewID()
	out, err := f.db.UpdateItem(ctx, withLease(f.acquire, lease))
	if err != nil {
		return err
	}
	tok, err := rawreq.TokenOf(out.Attributes)
	if err != nil {
		return err
	}
	release := withLease(f.release, lease)
	release.ExpressionAttributeValues[":tok"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(tok, 10)}
	_, err = f.db.UpdateItem(ctx, release)
	return err
}

// minimalCycle returns the minimal design's acquire + release of id: a
// fresh owner value per lease, the fencing token parsed from the answer.
func minimalCycle(db *dynamodb.Client, table, id string) cycleFunc {
	return func(ctx context.Context) error {
		owner := rawreq.NewID()
		out, err := db.UpdateItem(ctx, rawreq.MinimalAcquire(table, id, owner, time.Now(), defaults.TTL, defaults.Skew))
		if err != nil {
			return err
		}
		if _, err := rawreq.TokenOf(out.Attributes); err != nil {
			return err
		}
		_, err = db.UpdateItem(ctx, rawreq.MinimalRelease(table, id, owner))
		return err
	}
}

// newPeer returns a peer client with DynaLock's default lease and no
// background heartbeat (DynaLock has none unless asked).
func newPeer(db *dynamodb.Client, table, owner string) (*dynamolock.Client, error) {
	return dynamolock.New(db, table,
		dynamolock.WithLeaseDuration(peerLease),
		dynamolock.DisableHeartbeat(),
		dynamolock.WithOwnerName(owner))
}

// createPeerTable creates a table with the peer's own schema (partition
// key "key") and waits until it is active.
func createPeerTable(ctx context.Context, db *dynamodb.Client, name string) error {
	p, err := newPeer(db, name, "table-maker")
	if err != nil {
		return err
	}
	defer p.Close()
	if _, err := p.CreateTableWithContext(ctx, name); err != nil {
		return err
	}
	return dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &name}, time.Minute)
}

// isPeerHeld reports whether err is the peer's "lock is held" error.
func isPeerHeld(err error) bool {
	var e *dynamolock.LockNotGrantedError
	return errors.As(err, &e)
}
