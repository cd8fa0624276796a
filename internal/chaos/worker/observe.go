package worker

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/chaos/history"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
)

// skewedClock is the worker's lock clock: the machine's, offset.
type skewedClock time.Duration

func (s skewedClock) Now() time.Time { return time.Now().Add(time.Duration(s)) }

// faultRule injects cfg's faults into HTTP requests at random and records
// every request.
func faultRule(cfg Config, rec *history.Recorder) httpfault.Rule {
	kinds := []httpfault.Kind{httpfault.DropResponse, httpfault.ResetBeforeSend, httpfault.ServerError, httpfault.Throttle}
	return func(r httpfault.Request) httpfault.Action {
		var a httpfault.Action
		if rand.Float64() < cfg.FaultRate {
			a.Kind = kinds[rand.N(len(kinds))]
		}
		if cfg.MaxDelay > 0 && rand.Float64() < cfg.DelayRate {
			a.Delay = 1 + rand.N(cfg.MaxDelay)
		}
		e := history.Event{Kind: history.KindHTTP, Op: r.Op, Delayed: a.Delay > 0}
		if a.Kind != httpfault.Pass {
			e.Fault = a.Kind.String()
		}
		rec.Record(e)
		return a
	}
}

// observedDB is the lock client's DynamoDB: it records each UpdateItem
// with its outcome, and keeps the stored lease end of each acquire.
type observedDB struct {
	next lock.DynamoDBAPI
	rec  *history.Recorder

	mu  sync.Mutex       // protects exp
	exp map[string]int64 // lease ID → stored lease end, Unix ms
}

// UpdateItem implements lock.DynamoDBAPI.
func (o *observedDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	start := time.Now()
	out, err := o.next.UpdateItem(ctx, in, optFns...)
	e := history.Event{Kind: history.KindLockOp, Start: history.Nanos(start), Lock: lockID(in), Op: opName(in)}
	var item map[string]types.AttributeValue
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		e.Result = history.ResultOK
		item = out.Attributes
	case errors.As(err, &ccf):
		e.Result = history.ResultRefused
		item = ccf.Item
	default:
		e.Result, e.Err = history.ResultError, err.Error()
	}
	if len(item) > 0 {
		if r, perr := lock.ParseRecord(item); perr == nil {
			e.Lease, e.Token, e.ExpiresAt = r.LeaseID, r.Token, r.ExpiresAt.UnixMilli()
			if e.Op == "acquire" && e.Result == history.ResultOK {
				o.mu.Lock()
				o.exp[r.LeaseID] = e.ExpiresAt
				o.mu.Unlock()
			}
		}
	}
	o.rec.Record(e)
	return out, err
}

// expiresAt returns, and forgets, the stored end of leaseID.
func (o *observedDB) expiresAt(leaseID string) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	ms := o.exp[leaseID]
	delete(o.exp, leaseID)
	return ms
}

func lockID(in *dynamodb.UpdateItemInput) string {
	if v, ok := in.Key[lock.PartitionKey].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// opName names a lock request by its shape: only an acquire asks for the
// new item, and only a release sets ReleasedAt.
func opName(in *dynamodb.UpdateItemInput) string {
	if in.ReturnValues == types.ReturnValueAllNew {
		return "acquire"
	}
	for _, name := range in.ExpressionAttributeNames {
		if name == "ReleasedAt" {
			return "release"
		}
	}
	return "extend"
}
