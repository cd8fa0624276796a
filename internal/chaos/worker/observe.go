package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/chaos/history"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
)

// Attributes of a lock's item that tell how earlier leases ended, as
// operators read them: the last lease released (by its holder or an
// operator) and the last one an operator force-released.
const (
	attrReleasedLease = "ReleasedLease"
	attrForcedLease   = "ForcedLease"
)

// skewedClock is the worker's lock clock: the machine's, offset.
type skewedClock time.Duration

func (s skewedClock) Now() time.Time { return time.Now().Add(time.Duration(s)) }

// faults decides, and records, the fate of every HTTP request of one
// connection (the worker's, or its operator's): cfg's random faults and
// delays; lock requests landing late (httpfault.LandLate); and, after a
// lost answer, a retry held back so that the operator can force-release
// the lease first (hint), or landing late.
type faults struct {
	cfg  Config
	rec  *history.Recorder
	hint func(lockID string) bool // asks the operator to force-release lockID now; nil: none

	mu      sync.Mutex           // protects dropped and targets
	dropped map[uint64]dropState // requests whose answer was dropped, by body
	targets map[uint64]string    // acquires whose answer is being dropped, to force if they go through: lock ID by body
	seed    maphash.Seed
}

type dropState struct {
	at       time.Time
	targeted bool // the operator was asked to force the lease meanwhile
}

func newFaults(cfg Config, rec *history.Recorder, hint func(string) bool) *faults {
	return &faults{cfg: cfg, rec: rec, hint: hint, dropped: map[uint64]dropState{}, targets: map[uint64]string{}, seed: maphash.MakeSeed()}
}

// transport returns the HTTP client under httpfault for this connection:
// it tells the operator of a targeted acquire that went through (while
// httpfault drops its answer), so that the force lands during the SDK's
// backoff, before the retry (which rule then holds back).
func (f *faults) transport(next httpfault.HTTPClient) httpfault.HTTPClient {
	if f.hint == nil {
		return next
	}
	return hinting{next: next, f: f}
}

type hinting struct {
	next httpfault.HTTPClient
	f    *faults
}

func (h hinting) Do(req *http.Request) (*http.Response, error) {
	f := h.f
	f.mu.Lock()
	pending := len(f.targets) > 0
	f.mu.Unlock()
	if !pending || req.Body == nil {
		return h.next.Do(req)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(body))
	key := maphash.Bytes(f.seed, body)
	f.mu.Lock()
	id, target := f.targets[key]
	delete(f.targets, key)
	f.mu.Unlock()
	resp, err := h.next.Do(req)
	if target && err == nil && resp.StatusCode == http.StatusOK && f.hint(id) {
		f.mu.Lock()
		if d, ok := f.dropped[key]; ok {
			d.targeted = true
			f.dropped[key] = d
		}
		f.mu.Unlock()
	}
	return resp, err
}

// lockRequest is what a request's body says of a lock request.
type lockRequest struct {
	op, lock, lease string
	exp             int64 // the stored end asked for, Unix ms
	token           int64 // the token a force-release names
}

// classify reads a DynamoDB request body: a lock-table request gives its
// lock operation; any other request gives op "ledger" (or "" for an
// unreadable body).
func classify(def admin.TableDefinition, lockTable string, body []byte) lockRequest {
	var b struct {
		TableName                 string
		Key                       map[string]struct{ S string }
		ReturnValues              string
		ProjectionExpression      string
		ExpressionAttributeNames  map[string]string
		ExpressionAttributeValues map[string]struct{ S, N string }
	}
	if json.Unmarshal(body, &b) != nil {
		return lockRequest{}
	}
	id, isLock := keyLockID(def, b.Key[def.PartitionKey].S, b.Key[def.SortKey].S)
	if b.TableName != lockTable || !isLock {
		return lockRequest{op: "ledger"}
	}
	r := lockRequest{lock: id, lease: b.ExpressionAttributeValues[":lease"].S}
	r.exp, _ = strconv.ParseInt(b.ExpressionAttributeValues[":exp"].N, 10, 64)
	r.token, _ = strconv.ParseInt(b.ExpressionAttributeValues[":tok"].N, 10, 64)
	_, force := b.ExpressionAttributeValues[":by"]
	switch {
	case b.ExpressionAttributeNames == nil && b.ExpressionAttributeValues == nil, b.ProjectionExpression != "":
		r.op = history.OpRead // the operator's, or a waiter's between its writes
	case b.ReturnValues == string(types.ReturnValueAllNew):
		r.op = history.OpAcquire
	case force:
		r.op = history.OpForce
	case namesHold(b.ExpressionAttributeNames, "ReleasedAt"):
		r.op = history.OpRelease
	default:
		r.op = history.OpExtend
	}
	return r
}

func namesHold(names map[string]string, attr string) bool {
	for _, n := range names {
		if n == attr {
			return true
		}
	}
	return false
}

// rule is the connection's httpfault.Rule.
func (f *faults) rule(r httpfault.Request) httpfault.Action {
	c := f.cfg
	lr := classify(c.table, c.LockTable, r.Body)
	isLockWrite := lr.op == history.OpAcquire || lr.op == history.OpRelease || lr.op == history.OpExtend || lr.op == history.OpForce
	key := maphash.Bytes(f.seed, r.Body)
	f.mu.Lock()
	prev, retry := f.dropped[key]
	if retry {
		delete(f.dropped, key)
	}
	if len(f.dropped) > 1000 { // forget drops whose retries never came
		clear(f.targets)
		for k, d := range f.dropped {
			if time.Since(d.at) > 10*time.Second {
				delete(f.dropped, k)
			}
		}
	}
	f.mu.Unlock()

	var a httpfault.Action
	switch {
	case retry && prev.targeted:
		// Hold the retry back so that the operator's force lands first.
		a.Delay = c.MaxDelay
	case retry && isLockWrite && rand.Float64() < c.RetryLateRate:
		a.Kind, a.Delay = httpfault.LandLate, 1+rand.N(c.LateMax)
	case isLockWrite && c.LateMax > 0 && rand.Float64() < c.LateRate:
		a.Kind, a.Delay = httpfault.LandLate, 1+rand.N(c.LateMax)
	default:
		if rand.Float64() < c.FaultRate {
			kinds := []httpfault.Kind{httpfault.DropResponse, httpfault.ResetBeforeSend, httpfault.ServerError, httpfault.Throttle}
			a.Kind = kinds[rand.N(len(kinds))]
		}
		if c.MaxDelay > 0 && rand.Float64() < c.DelayRate {
			a.Delay = 1 + rand.N(c.MaxDelay)
		}
	}
	if a.Kind == httpfault.DropResponse && isLockWrite {
		f.mu.Lock()
		f.dropped[key] = dropState{at: time.Now()}
		if lr.op == history.OpAcquire && f.hint != nil && rand.Float64() < c.TargetRate {
			f.targets[key] = lr.lock
		}
		f.mu.Unlock()
	}
	e := history.Event{Kind: history.KindHTTP, Op: r.Op, LockOp: lr.op, Delayed: a.Delay > 0 && a.Kind != httpfault.LandLate}
	if lr.op != "ledger" {
		e.Lock, e.Lease, e.ExpiresAt, e.Token = lr.lock, lr.lease, lr.exp, lr.token
	}
	if a.Kind == httpfault.LandLate {
		e.LateMs = max(a.Delay.Milliseconds(), 1)
	}
	if a.Kind != httpfault.Pass {
		e.Fault = a.Kind.String()
	}
	f.rec.Record(e)
	return a
}

// observedDB is the lock client's DynamoDB: it records each UpdateItem
// with its outcome, the lease end an acquire or extend asked to store,
// and what the item in the answer says, and keeps the
// stored lease end of each acquire. It passes the lock's per-call options
// on to the SDK.
type observedDB struct {
	next lock.DynamoDBAPI
	rec  *history.Recorder
	// unsafe reverts, in every request, the conditions by which the lock
	// was fixed for issue 11 (see Config.UnsafeConditions).
	unsafe bool
	// def is the lock table's shape.
	def admin.TableDefinition

	mu  sync.Mutex         // protects exp
	exp map[leaseKey]int64 // stored lease end, Unix ms
}

// leaseKey names one lock ID's share of a lease: a lease of several lock
// IDs holds them all under one lease ID.
type leaseKey struct{ lock, lease string }

// UpdateItem implements lock.DynamoDBAPI.
func (o *observedDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if o.unsafe {
		in = revertConditions(in)
	}
	start := time.Now()
	out, err := o.next.UpdateItem(ctx, in, optFns...)
	e := history.Event{Kind: history.KindLockOp, Start: history.Nanos(start), Lock: lockID(o.def, in), Op: opName(in)}
	if v, ok := in.ExpressionAttributeValues[":lease"].(*types.AttributeValueMemberS); ok {
		e.Req = v.Value
	}
	if v, ok := in.ExpressionAttributeValues[":exp"].(*types.AttributeValueMemberN); ok && (e.Op == history.OpAcquire || e.Op == history.OpExtend) {
		e.ReqExp, _ = strconv.ParseInt(v.Value, 10, 64)
	}
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
		describeItem(o.def, &e, item)
		if e.Op == history.OpAcquire && e.Result == history.ResultOK && e.ExpiresAt != 0 {
			o.mu.Lock()
			o.exp[leaseKey{e.Lock, e.Lease}] = e.ExpiresAt
			o.mu.Unlock()
		}
	}
	o.rec.Record(e)
	return out, err
}

// describeItem fills e with what item says: its lease, token and stored
// end, and the leases released and force-released last.
func describeItem(def admin.TableDefinition, e *history.Event, item map[string]types.AttributeValue) {
	if r, err := def.Parse(item); err == nil {
		e.Lease, e.Token, e.ExpiresAt = r.LeaseID, r.Token, r.ExpiresAt.UnixMilli()
		if r.ExpiresAt.IsZero() {
			e.ExpiresAt = 0
		}
	}
	e.RelLease, e.Forced = str(item, attrReleasedLease), str(item, attrForcedLease)
}

func str(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// expiresAt returns, and forgets, the stored end of leaseID on lock id.
func (o *observedDB) expiresAt(id, leaseID string) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := leaseKey{id, leaseID}
	ms := o.exp[k]
	delete(o.exp, k)
	return ms
}

// TransactWriteItems implements lock.DynamoDBAPI; the chaos run's
// sections write the ledger themselves, so the lock never sends one.
func (o *observedDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return o.next.TransactWriteItems(ctx, in, optFns...)
}

func lockID(def admin.TableDefinition, in *dynamodb.UpdateItemInput) string {
	if r, err := def.Parse(in.Key); err == nil {
		return r.LockID
	}
	return ""
}

// opName names a lock request by its shape: only an acquire asks for the
// new item, and only a release sets ReleasedAt.
func opName(in *dynamodb.UpdateItemInput) string {
	if in.ReturnValues == types.ReturnValueAllNew {
		return history.OpAcquire
	}
	for _, name := range in.ExpressionAttributeNames {
		if name == "ReleasedAt" {
			return history.OpRelease
		}
	}
	return history.OpExtend
}

// The parts of the lock's conditions that fixed issue 11's bugs 2 and 3,
// as the lock writes them, and what they were before.
var reverts = map[string][][2]string{
	history.OpAcquire: {
		// A retried acquire may match its own lease although it was
		// released or force-released meanwhile (bug 2), or extended (a
		// late copy of the acquire, found in issue 22's review).
		{"(#lease = :lease AND NOT (#rel = :lease) AND #seq = :seq)", "#lease = :lease"},
		{" AND NOT (#forced = :lease)", ""},
	},
	history.OpExtend: {
		// An extend may move the stored end earlier (bug 3).
		{" AND #exp <= :exp", ""},
	},
}

// revertConditions returns in with the fixes of reverts taken out of its
// condition. It panics if the lock's condition no longer has them: the
// flag would test nothing.
func revertConditions(in *dynamodb.UpdateItemInput) *dynamodb.UpdateItemInput {
	op := opName(in)
	rs := reverts[op]
	if len(rs) == 0 || in.ConditionExpression == nil {
		return in
	}
	cond := *in.ConditionExpression
	for _, r := range rs {
		if !strings.Contains(cond, r[0]) {
			panic(fmt.Sprintf("chaos: -unsafe-conditions: the lock's %s condition no longer has %q: %s", op, r[0], cond))
		}
		cond = strings.Replace(cond, r[0], r[1], 1)
	}
	c := *in
	c.ConditionExpression = &cond
	// DynamoDB refuses names that no expression uses.
	c.ExpressionAttributeNames = map[string]string{}
	for k, v := range in.ExpressionAttributeNames {
		used := strings.Contains(cond, k) || strings.Contains(aws.ToString(in.UpdateExpression), k)
		if used {
			c.ExpressionAttributeNames[k] = v
		}
	}
	return &c
}
