package once

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/internal/mwopt"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// WorkerMain is a worker process: it reads deliveries on standard input,
// handles each at once through the middleware (on the delivery's path),
// and writes their answers, and its notes for the history, on standard
// output. It returns the exit code.
func WorkerMain() int {
	var cfg workerConfig
	if err := json.Unmarshal([]byte(os.Getenv(EnvWorker)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "once worker:", err)
		return 2
	}
	w, err := newWorker(cfg, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "once worker:", err)
		return 2
	}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var wg sync.WaitGroup
	for sc.Scan() {
		var d delivery
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			fmt.Fprintln(os.Stderr, "once worker:", err)
			return 2
		}
		wg.Go(func() { w.deliver(d) })
	}
	wg.Wait()
	return 0
}

// worker runs the middleware's wrappers over a faulty connection.
type worker struct {
	cfg   workerConfig
	net   *httpfault.Client
	db    *dynamodb.Client
	locks *lock.Client
	paths map[string]deliverFunc
	mu    sync.Mutex // serialises writes to out
	out   io.Writer

	// nonces maps the nonce of a handler run about to write to its
	// delivery, for the transaction's note; noted holds the nonces noted.
	nonces, noted sync.Map
	// lostLeases holds the claim leases whose completing transaction lost
	// every answer.
	lostLeases sync.Map
}

func newWorker(cfg workerConfig, out io.Writer) (*worker, error) {
	w := &worker{cfg: cfg, out: out, paths: map[string]deliverFunc{}}
	w.net = &httpfault.Client{Next: counting{awshttp.NewBuildableClient()}, Rule: w.rule}
	w.db = dynamotest.NewClient(cfg.Endpoint, func(o *dynamodb.Options) {
		o.HTTPClient = w.net
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts, so.MaxBackoff, so.RateLimiter = 4, 50*time.Millisecond, ratelimit.None
		})
	})
	var err error
	w.locks, err = lock.NewClient(context.Background(), lock.Config{TableName: cfg.LockTable, DynamoDB: observedDB{Client: w.db, w: w},
		ClockSkewTolerance: cfg.Tolerance, Owner: fmt.Sprintf("once-worker-%d", cfg.ID), CompletionExpiry: cfg.CompletionExpiry})
	if err != nil {
		return nil, err
	}
	policy := middleware.Fail
	if cfg.Wait {
		policy = middleware.Wait
	}
	// The grace comes with each invocation's context (mwopt, in deliver).
	common := []middleware.Option{middleware.WithNamespace(namespace), middleware.WithOnHeld(policy),
		middleware.WithReserve(cfg.Reserve),
		middleware.WithLogger(slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))}
	for _, p := range paths {
		if w.paths[p.name], err = p.build(w, common); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// rule decides each HTTP request's fate: a completing transaction chosen
// to lose its answers loses every one; otherwise a fault, a delay, or a
// late landing for writes.
func (w *worker) rule(r httpfault.Request) httpfault.Action {
	c := w.cfg
	if r.Op == "TransactWriteItems" && w.noteTxn(r.Body) {
		return httpfault.Action{Kind: httpfault.DropResponse}
	}
	var a httpfault.Action
	write := r.Op == "UpdateItem" || r.Op == "TransactWriteItems"
	switch {
	case write && mrand.Float64() < c.LateRate:
		a.Kind, a.Delay = httpfault.LandLate, 1+mrand.N(c.LateMax)
	case mrand.Float64() < c.FaultRate:
		kinds := []httpfault.Kind{httpfault.DropResponse, httpfault.ResetBeforeSend, httpfault.ServerError, httpfault.Throttle}
		a.Kind = kinds[mrand.N(len(kinds))]
	}
	if a.Kind != httpfault.LandLate && c.MaxDelay > 0 && mrand.Float64() < c.DelayRate {
		a.Delay = 1 + mrand.N(c.MaxDelay)
	}
	return a
}

// txnBody is what noteTxn reads of a TransactWriteItems request.
type txnBody struct {
	TransactItems []struct {
		Update, ConditionCheck *txnAction
	}
}

type txnAction struct {
	TableName                 string
	Key                       map[string]txnValue
	ExpressionAttributeValues map[string]txnValue
}

type txnValue struct {
	S *string
	B []byte
}

// noteTxn notes, on its first send, a handler's transaction for the
// history: the nonce of its effect, the claim it completes with its lease
// and result, the entity locks it releases (lock.Lease.Complete: Updates
// of the lock table, the claim's among them) or checks. It reports whether every answer
// to it is to be dropped (LostCompletionRate, decided by its nonce, so
// that every SDK retry of it loses its answer too).
func (w *worker) noteTxn(body []byte) bool {
	var b txnBody
	if json.Unmarshal(body, &b) != nil {
		return false
	}
	l := Line{Kind: LineTxn, Worker: w.cfg.ID}
	for _, it := range b.TransactItems {
		switch {
		case it.Update != nil && it.Update.TableName == w.cfg.AppTable:
			if v := it.Update.ExpressionAttributeValues[":nonce"].S; v != nil {
				l.Nonce = *v
			}
		case it.Update != nil && it.Update.TableName == w.cfg.LockTable && isClaim(aws.ToString(it.Update.Key[admin.Table.PartitionKey].S)):
			l.Claim = aws.ToString(it.Update.Key[admin.Table.PartitionKey].S)
			l.Lease = aws.ToString(it.Update.ExpressionAttributeValues[":lease"].S)
			if r, ok := it.Update.ExpressionAttributeValues[":result"]; ok {
				l.Result = strp(string(r.B))
			}
		case it.Update != nil && it.Update.TableName == w.cfg.LockTable:
			l.Locks = append(l.Locks, aws.ToString(it.Update.Key[admin.Table.PartitionKey].S))
		case it.ConditionCheck != nil && it.ConditionCheck.TableName == w.cfg.LockTable:
			l.Locks = append(l.Locks, aws.ToString(it.ConditionCheck.Key[admin.Table.PartitionKey].S))
		}
	}
	if l.Nonce == "" {
		return false // not a handler's
	}
	h := fnv.New64a()
	h.Write([]byte(l.Nonce))
	l.LostAnswer = l.Claim != "" && float64(h.Sum64()%10000) < w.cfg.LostCompletionRate*10000
	if _, seen := w.noted.LoadOrStore(l.Nonce, true); !seen {
		if f, ok := w.nonces.Load(l.Nonce); ok {
			l.N, l.Event = f.(*inFlight).d.N, f.(*inFlight).d.Event.ID
		}
		if l.LostAnswer {
			w.lostLeases.Store(l.Lease, true)
		}
		l.Time = time.Now().UnixNano()
		w.send(message{Note: &l})
	}
	return l.LostAnswer
}

type deliveryKey struct{}

// askKey carries, to the observed Extend request, the TTL it asked for.
type askKey struct{}

// inFlight is what the handler knows of its delivery.
type inFlight struct {
	d        delivery
	ran      atomic.Bool
	applied  atomic.Bool // DynamoDB answered its transaction with success (the answer may then have been lost)
	fixedEnd time.Time   // the invocation's deadline plus the grace
	requests *requestCount
}

// deliver runs one delivery as the Lambda runtime would, on its path, and
// answers it.
func (w *worker) deliver(d delivery) {
	f := &inFlight{d: d, requests: &requestCount{n: map[string]int{}}}
	lc := &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("w%d-d%d", w.cfg.ID, d.N)}
	if w.cfg.Unsafe == UnsafeShared {
		// The event's own ID, outside the payload its trigger carries.
		lc.ClientContext.Custom = map[string]string{eventIDKey: d.Event.ID}
	}
	ctx := lambdacontext.NewContext(context.Background(), lc)
	// The middleware's grace, which v0.1 takes from the invocation's
	// context (a proof's knob, not a user's).
	ctx = mwopt.NewContext(ctx, mwopt.Settings{Grace: w.cfg.Grace})
	ctx = context.WithValue(ctx, deliveryKey{}, f)
	ctx = context.WithValue(ctx, countKey{}, f.requests)
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	deadline, _ := ctx.Deadline()
	f.fixedEnd = deadline.Add(w.cfg.Grace)
	var r reply
	if p, ok := w.paths[d.Path]; ok {
		r = p(ctx, d)
	} else {
		r.err = fmt.Errorf("once: no delivery path %q", d.Path)
	}
	cancel()
	a := answer{N: d.N, Ran: f.ran.Load(), Deadline: deadline, Requests: f.requests.snapshot(), Faults: map[string]int{}}
	switch {
	case r.err == nil && a.Ran:
		a.Res, a.Out, a.Replayed = ResOK, r.out, r.replayed
	case r.err == nil:
		a.Res, a.Out, a.Replayed = ResDuplicate, r.out, r.replayed
	default:
		a.Res, a.Err = ResFailed, r.err.Error()
		// The middleware's error for a completed duplicate without a stored
		// result is unexported since v0.1: its message tells.
		a.NoResult, a.Mismatch = strings.Contains(r.err.Error(), noResultMessage), errors.Is(r.err, lock.ErrPayloadMismatch)
		if held := (*lock.HeldError)(nil); errors.As(r.err, &held) {
			a.Res, a.Held, a.HeldUntil, a.HeldAt = ResHeld, held.LockID, held.Holder.ExpiresAt, held.At
		} else if r.held {
			a.Res = ResHeld
		}
	}
	for k, n := range w.net.Faults() {
		a.Faults[k.String()] = n
	}
	w.send(message{Answer: &a})
}

func (w *worker) send(m message) {
	b, _ := json.Marshal(m)
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = w.out.Write(append(b, '\n'))
}

// noResultMessage is the message of the middleware's error for a
// duplicate of a completed event that has no stored result to answer with.
const noResultMessage = "event completed, but its result was not stored"

// eventIDKey is, under -unsafe-claims shared, the Lambda client context's
// entry that carries the event's own ID, outside its trigger's payload.
const eventIDKey = "once-event"

// payload is the event d's trigger carries: d's event, or under
// -unsafe-claims shared its pair's (payloadOf).
func (w *worker) payload(ev Event) Event { return payloadOf(w.cfg.Unsafe, ev) }

// eventOf is the event a handler handles, from the one its trigger
// carried: that one, or under -unsafe-claims shared the one whose ID the
// invocation's client context names.
func eventOf(ctx context.Context, ev Event) Event {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		if id := lc.ClientContext.Custom[eventIDKey]; id != "" {
			ev.ID = id
		}
	}
	return ev
}

// handle is the idempotent handler of every path: it reads the account's
// balance, may extend its lease, then credits the account and records the
// event's effect (with its run's nonce, delivery and worker) in one
// transaction that also completes the event, storing result(output), and
// releases its entity locks: lock.Lease.Complete on the lease the
// middleware hands it (the claim and the entity locks, joined). result is
// what the path's wrapper stores itself for the handler's output (its JSON
// for Wrap, the whole response for WrapHTTP, none for SQS and streams),
// so that the middleware's completion after the handler finds it stored.
func (w *worker) handle(ctx context.Context, ev Event, result func(Output) ([]byte, error)) (Output, error) {
	ev = eventOf(ctx, ev)
	f, _ := ctx.Value(deliveryKey{}).(*inFlight)
	f.ran.Store(true)
	lease, ok := lock.FromContext(ctx)
	if !ok {
		return Output{}, errors.New("once: no lease in the handler's context")
	}
	d, _, err := appdata.Read(ctx, w.db, w.cfg.AppTable, accountID(ev.Account))
	if err != nil {
		return Output{}, err
	}
	balance := d.Int("Balance")
	if mrand.Float64() < w.cfg.ExtendRate {
		w.extend(ctx, lease)
	}
	time.Sleep(time.Duration(mrand.N(20)) * time.Millisecond)
	if f.d.Kill == KillBefore {
		w.die(f.d)
	}
	out := Output{Event: ev.ID, Nonce: rand.Text()}
	res, err := result(out)
	if err != nil {
		return Output{}, err
	}
	w.nonces.Store(out.Nonce, f)
	defer w.nonces.Delete(out.Nonce)
	err = lease.Complete(ctx, res,
		types.TransactWriteItem{Update: &types.Update{
			TableName:                aws.String(w.cfg.AppTable),
			Key:                      appdata.Key(effectID(ev.ID)),
			UpdateExpression:         aws.String("ADD #c :one SET #nonce = :nonce, #w = list_append(if_not_exists(#w, :none), :me)"),
			ExpressionAttributeNames: map[string]string{"#c": "Count", "#nonce": "Nonce", "#w": "Writes"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": appdata.N(1), ":nonce": appdata.S(out.Nonce),
				":none": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
				":me": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
					"nonce": appdata.S(out.Nonce), "n": appdata.N(int64(f.d.N)), "w": appdata.N(int64(w.cfg.ID))}}}},
			},
		}},
		types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(w.cfg.AppTable),
			Key:                       appdata.Key(accountID(ev.Account)),
			UpdateExpression:          aws.String("SET #b = :b"),
			ExpressionAttributeNames:  map[string]string{"#b": "Balance"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":b": appdata.N(balance + ev.Amount)},
		}})
	if f.d.Kill == KillAfter && f.applied.Load() {
		w.die(f.d) // whether or not the answer came back
	}
	if err != nil {
		return Output{}, err
	}
	return out, nil
}

// extendAsks are the TTLs a handler's Extend asks for: the lease's own
// (0), less than it has left, and more.
var extendAsks = []time.Duration{0, 400 * time.Millisecond, 2 * time.Second, 5 * time.Second}

// extend extends the handler's lease, whose end the middleware fixed at
// the invocation's deadline plus the grace: since v0.1 one lease, the
// entity locks and the claim joined, extended as one (a request per lock
// ID). Its requests are noted by observedDB; its error changes nothing
// here.
func (w *worker) extend(ctx context.Context, lease *lock.Lease) {
	ask := extendAsks[mrand.N(len(extendAsks))]
	_ = lease.Extend(context.WithValue(ctx, askKey{}, ask), ask)
}

// die asks the driver for a SIGKILL and waits for it.
func (w *worker) die(d delivery) {
	w.mu.Lock()
	fmt.Fprintf(w.out, "%s%d %s\n", killLine, d.N, d.Kill)
	w.mu.Unlock()
	time.Sleep(time.Hour)
}

// observedDB is the lock client's DynamoDB: it notes, for the history,
// the extends of every lease and the releases and completions of claims,
// each with its outcome. Under -unsafe-claims reacquire it takes out of
// every claim's acquire the condition that the claim was not completed.
type observedDB struct {
	*dynamodb.Client
	w *worker
}

// claimNotDone is the part of a claim's acquire condition that refuses a
// completed claim (lock/requests.go).
const claimNotDone = " AND NOT (#done > :now)"

// UpdateItem implements lock.DynamoDBAPI.
func (o observedDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	op := opOf(in)
	if op == "acquire" && o.w.cfg.Unsafe == UnsafeReacquire {
		in = reacquireCompleted(in)
	}
	out, err := o.Client.UpdateItem(ctx, in, optFns...)
	f, _ := ctx.Value(deliveryKey{}).(*inFlight)
	id := aws.ToString(keyS(in.Key[admin.Table.PartitionKey]))
	if f == nil || (op != "extend" && !isClaim(id)) {
		return out, err
	}
	l := Line{Worker: o.w.cfg.ID, N: f.d.N, Event: f.d.Event.ID, Lease: aws.ToString(keyS(in.ExpressionAttributeValues[":lease"])),
		Res: ResOK, Time: time.Now().UnixNano()}
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		l.Res = ResRefused
	case err != nil:
		l.Res = ResError
	}
	switch op {
	case "extend":
		l.Kind, l.Lock, l.FixedEnd = LineExtend, id, f.fixedEnd.UnixMilli()
		if v, ok := in.ExpressionAttributeValues[":exp"].(*types.AttributeValueMemberN); ok {
			fmt.Sscan(v.Value, &l.End)
		}
		if ask, ok := ctx.Value(askKey{}).(time.Duration); ok {
			l.Ask = ask.Milliseconds()
		}
	case OpRelease, OpComplete:
		l.Kind, l.Claim, l.Op = LineRelease, id, op
		_, l.AfterLost = o.w.lostLeases.Load(l.Lease)
	default:
		return out, err
	}
	o.w.send(message{Note: &l})
	return out, err
}

func keyS(v types.AttributeValue) *string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return &s.Value
	}
	return nil
}

func isClaim(lockID string) bool { return strings.Contains(lockID, "/idempotency#") }

// opOf names a lock request by its shape: only an acquire asks for the
// new item; a completion sets CompletedAt; a release ReleasedAt; an extend
// sets a new end (:exp).
func opOf(in *dynamodb.UpdateItemInput) string {
	if in.ReturnValues == types.ReturnValueAllNew {
		return "acquire"
	}
	names := map[string]bool{}
	for _, n := range in.ExpressionAttributeNames {
		names[n] = true
	}
	switch {
	case names["CompletedAt"]:
		return OpComplete
	case names["ReleasedAt"]:
		return OpRelease
	case in.ExpressionAttributeValues[":exp"] != nil:
		return "extend"
	}
	return ""
}

// reacquireCompleted returns a claim's acquire without the condition that
// refuses a completed claim (-unsafe-claims reacquire). It panics if the
// lock no longer words it so: the flag would break nothing.
func reacquireCompleted(in *dynamodb.UpdateItemInput) *dynamodb.UpdateItemInput {
	if !isClaim(aws.ToString(keyS(in.Key[admin.Table.PartitionKey]))) {
		return in
	}
	cond := aws.ToString(in.ConditionExpression)
	if !strings.Contains(cond, claimNotDone) {
		panic(fmt.Sprintf("once: -unsafe-claims %s: the claim's acquire condition no longer has %q: %s", UnsafeReacquire, claimNotDone, cond))
	}
	c := *in
	c.ConditionExpression = aws.String(strings.Replace(cond, claimNotDone, "", 1))
	return &c
}

// countKey finds a delivery's request counter in a request's context: the
// middleware's requests carry the handler's context, or one made from it.
type countKey struct{}

type requestCount struct {
	mu sync.Mutex // protects n
	n  map[string]int
}

func (c *requestCount) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// counting counts each HTTP request (each attempt) against its delivery,
// and marks a delivery whose transaction DynamoDB applied: it sits below
// httpfault, so it sees DynamoDB's answer even when httpfault then drops
// it.
type counting struct{ next httpfault.HTTPClient }

func (c counting) Do(req *http.Request) (*http.Response, error) {
	op := req.Header.Get("X-Amz-Target")
	op = op[strings.LastIndexByte(op, '.')+1:]
	if rc, ok := req.Context().Value(countKey{}).(*requestCount); ok {
		rc.mu.Lock()
		rc.n[op]++
		rc.mu.Unlock()
	}
	resp, err := c.next.Do(req)
	if f, ok := req.Context().Value(deliveryKey{}).(*inFlight); ok && op == "TransactWriteItems" && err == nil && resp.StatusCode == http.StatusOK {
		f.applied.Store(true)
	}
	return resp, err
}
