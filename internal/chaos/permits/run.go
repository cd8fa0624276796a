package permits

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
)

// Config is one run's settings.
type Config struct {
	Duration  time.Duration
	Holders   int // concurrent holders, each with its own connection and clock
	Locks     int // lock IDs
	Permits   int // N of every lock ID
	Tolerance time.Duration
	Skew      time.Duration // clocks up to this far apart (keep it under Tolerance)
	TTLMin    time.Duration
	TTLMax    time.Duration
	WaitStep  time.Duration // the wait's longest step
	FaultRate float64       // share of requests failed (drop-response, reset, 500, throttle)
	DelayRate float64       // share delayed up to MaxDelay
	MaxDelay  time.Duration
	LateRate  float64 // share of writes held back up to LateMax, detached from their caller
	LateMax   time.Duration
	ShortRate float64 // share of acquires given less time than a request may take
	PauseRate float64 // share of sections that pause past their lease
	DieRate   float64 // share of holders that stop without releasing
	// HeartbeatRate and ExtendRate: shares of sections with a heartbeat,
	// and of sections that Extend their lease themselves.
	HeartbeatRate, ExtendRate float64
	// Unsafe drops the acquire's bound on the holders (the item may hold
	// any number of them), so that the check must fail.
	Unsafe bool
}

// Defaults returns the default run: 8 holders on 2 IDs of 3 permits.
func Defaults() Config {
	return Config{
		Duration: 60 * time.Second, Holders: 8, Locks: 2, Permits: 3,
		Tolerance: 100 * time.Millisecond, Skew: 90 * time.Millisecond,
		TTLMin: 300 * time.Millisecond, TTLMax: 800 * time.Millisecond, WaitStep: 100 * time.Millisecond,
		FaultRate: 0.1, DelayRate: 0.2, MaxDelay: 30 * time.Millisecond, LateRate: 0.03, LateMax: 800 * time.Millisecond,
		ShortRate: 0.1, PauseRate: 0.05, DieRate: 0.05, HeartbeatRate: 0.2, ExtendRate: 0.1,
	}
}

// Run runs cfg against the DynamoDB Local at endpoint, writing the history
// to path.
func Run(ctx context.Context, cfg Config, endpoint, path string) error {
	rec, err := newRecorder(path)
	if err != nil {
		return err
	}
	plain := dynamotest.NewClient(endpoint)
	table := fmt.Sprintf("permits-%d", time.Now().UnixNano())
	if err := admin.CreateTable(ctx, plain, table); err != nil {
		return errors.Join(err, rec.close())
	}
	ledger := table + "-ledger"
	if _, err := plain.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(ledger), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	}); err != nil {
		return errors.Join(err, rec.close())
	}
	rec.record(Event{Kind: KindRun, Permits: cfg.Permits, Settings: map[string]any{
		"duration": cfg.Duration.String(), "holders": cfg.Holders, "locks": cfg.Locks, "tolerance": cfg.Tolerance.String(),
		"skew": cfg.Skew.String(), "ttl": cfg.TTLMin.String() + "-" + cfg.TTLMax.String(), "faultRate": cfg.FaultRate,
		"lateRate": cfg.LateRate, "unsafe": cfg.Unsafe,
	}})
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var calls sync.Mutex
	call := 0
	nextCall := func() int { calls.Lock(); defer calls.Unlock(); call++; return call }
	var wg sync.WaitGroup
	nets := make([]*httpfault.Client, cfg.Holders)
	for h := range cfg.Holders {
		offset := time.Duration(0)
		if cfg.Holders > 1 {
			offset = time.Duration(h)*cfg.Skew/time.Duration(cfg.Holders-1) - cfg.Skew/2
		}
		net := &httpfault.Client{Next: awshttp.NewBuildableClient(), Rule: faultRule(cfg)}
		nets[h] = net
		db := dynamotest.NewClient(endpoint, func(o *dynamodb.Options) {
			o.HTTPClient = net
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts, so.MaxBackoff, so.RateLimiter = 4, 50*time.Millisecond, ratelimit.None
			})
		})
		var api lock.DynamoDBAPI = db
		if cfg.Unsafe {
			api = unboundedDB{db}
		}
		c, err := lock.NewClient(ctx, lock.Config{
			TableName: table, DynamoDB: api, Owner: "holder-" + strconv.Itoa(h), ClockSkewTolerance: cfg.Tolerance,
			Now: func() time.Time { return time.Now().Add(offset) },
		})
		if err != nil {
			return errors.Join(err, rec.close())
		}
		w := &holder{id: h, cfg: cfg, c: c, rec: rec, ledger: ledger, next: nextCall}
		wg.Go(func() { w.loop(runCtx) })
	}
	wg.Wait()
	for _, n := range nets {
		n.WaitLate()
	}
	// Every lease is over by now, but for those extended by held-back
	// requests: wait for the longest one.
	time.Sleep(cfg.TTLMax*3 + cfg.Tolerance)
	counters := map[string]int64{}
	for i := range cfg.Locks {
		id := lockID(i)
		out, err := plain.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(ledger), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: id}}})
		if err != nil {
			return errors.Join(err, rec.close())
		}
		if v, ok := out.Item["n"].(*types.AttributeValueMemberN); ok {
			counters[id], _ = strconv.ParseInt(v.Value, 10, 64)
		}
	}
	rec.record(Event{Kind: KindEnd, Counters: counters})
	return rec.close()
}

func lockID(i int) string { return "permit-" + strconv.Itoa(i) }

// faultRule fails, delays and holds back requests at cfg's rates.
func faultRule(cfg Config) httpfault.Rule {
	return func(r httpfault.Request) httpfault.Action {
		var a httpfault.Action
		if rand.Float64() < cfg.DelayRate {
			a.Delay = rand.N(cfg.MaxDelay + 1)
		}
		switch x := rand.Float64(); {
		case r.Op != "GetItem" && x < cfg.LateRate:
			a.Kind, a.Delay = httpfault.LandLate, 1+rand.N(cfg.LateMax)
		case x < cfg.LateRate+cfg.FaultRate:
			a.Kind = []httpfault.Kind{httpfault.DropResponse, httpfault.ResetBeforeSend, httpfault.ServerError, httpfault.Throttle}[rand.N(4)]
		}
		return a
	}
}

// unboundedDB takes out of every permit acquire its bound on the number
// of holders: the item then admits any number (the unsafe run).
type unboundedDB struct{ *dynamodb.Client }

func (u unboundedDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if c := aws.ToString(in.ConditionExpression); strings.Contains(c, "size(#h) < :limit") {
		cp := *in
		cp.ConditionExpression = aws.String(strings.Replace(c, "size(#h) < :limit", "size(#h) < :limit OR size(#h) >= :limit", 1))
		in = &cp
	}
	return u.Client.UpdateItem(ctx, in, opts...)
}

// holder takes permits, one call at a time, until ctx ends.
type holder struct {
	id     int
	cfg    Config
	c      *lock.Client
	rec    *recorder
	ledger string
	next   func() int
}

func (w *holder) loop(ctx context.Context) {
	for ctx.Err() == nil {
		w.call(ctx)
		sleepCtx(ctx, rand.N(20*time.Millisecond))
	}
}

// call takes a permit of a random ID by Do or Acquire, runs a section and
// lets go: by release, or (a crash) by stopping.
func (w *holder) call(ctx context.Context) {
	cfg := w.cfg
	id := lockID(rand.N(cfg.Locks))
	ttl := (cfg.TTLMin + rand.N(cfg.TTLMax-cfg.TTLMin+1)).Truncate(time.Millisecond)
	opts := []lock.Option{lock.WithPermits(cfg.Permits), lock.WithWait(2 * cfg.TTLMax),
		lockopt.RetryInterval(10*time.Millisecond, cfg.WaitStep), lockopt.TTL(ttl), lockopt.ReleaseTimeout(2 * time.Second)}
	call := w.next()
	w.rec.record(Event{Kind: KindCall, Holder: w.id, Call: call, Lock: id})
	die := rand.Float64() < cfg.DieRate
	heartbeat := !die && rand.Float64() < cfg.HeartbeatRate
	if heartbeat {
		opts = append(opts, lockopt.Heartbeat((ttl-cfg.Tolerance)/3))
	}
	fn := func(ctx context.Context) error { w.section(ctx, call, id, ttl, heartbeat); return nil }
	switch {
	case die:
		lease, err := w.c.Lock(id).Acquire(ctx, opts...)
		if err != nil {
			return
		}
		dl := lease.Deadline()
		w.rec.record(Event{Kind: KindEnter, Holder: w.id, Call: call, Lock: id, Lease: lease.LeaseID(), Token: lease.FencingToken(), Until: dl.UnixNano()})
		w.rec.record(Event{Kind: KindDie, Holder: w.id, Call: call, Lock: id, Lease: lease.LeaseID(), Until: dl.UnixNano()})
	case rand.N(2) == 0:
		_ = w.c.Lock(id).Do(ctx, fn, opts...)
	default:
		actx, cancel := ctx, context.CancelFunc(func() {})
		if rand.Float64() < cfg.ShortRate {
			actx, cancel = context.WithTimeout(ctx, 1+rand.N(60*time.Millisecond))
		}
		lease, err := w.c.Lock(id).Acquire(actx, opts...)
		cancel()
		if err != nil {
			return
		}
		sctx, cancel := context.WithDeadline(ctx, lease.Deadline())
		fn(lock.NewContext(sctx, lease))
		cancel()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = lease.Release(rctx)
		cancel()
	}
}

// section records the entry, works (extends, pauses, a lease-checked
// write of the ID's ledger counter) and records the exit, and when the
// context ended.
func (w *holder) section(ctx context.Context, call int, id string, ttl time.Duration, heartbeat bool) {
	lease, _ := lock.FromContext(ctx)
	var until int64
	if dl, ok := ctx.Deadline(); ok {
		until = dl.UnixNano()
	}
	key := Event{Holder: w.id, Call: call, Lock: id, Lease: lease.LeaseID()}
	enter := key
	enter.Kind, enter.Token, enter.Until = KindEnter, lease.FencingToken(), until
	w.rec.record(enter)
	stop := context.AfterFunc(ctx, func() { e := key; e.Kind = KindCtxDone; w.rec.record(e) })
	defer func() {
		stop()
		e := key
		e.Kind = KindExit
		w.rec.record(e)
	}()
	work := rand.N(ttl)
	if heartbeat {
		work = 2 * ttl
	}
	if rand.Float64() < w.cfg.ExtendRate {
		ext := ttl / 2
		if rand.N(2) == 0 {
			ext = 2 * ttl
		}
		_ = lease.Extend(ctx, max(ext, 2*w.cfg.Tolerance).Truncate(time.Millisecond))
	}
	if rand.Float64() < w.cfg.PauseRate {
		// A GC pause or a frozen sandbox: the holder ignores its context,
		// then writes under its lease, which must be refused if its permit
		// was taken over. Its exclusive time ended with its context.
		time.Sleep(ttl + 2*w.cfg.Tolerance + rand.N(ttl))
		w.write(context.WithoutCancel(ctx), key, lease)
		return
	}
	if !sleepCtx(ctx, work/2) {
		return
	}
	w.write(ctx, key, lease)
	sleepCtx(ctx, work/2)
}

// write adds one to the ID's ledger counter under the lease.
func (w *holder) write(ctx context.Context, key Event, lease *lock.Lease) {
	err := lease.Write(ctx, types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(w.ledger),
		Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key.Lock}},
		UpdateExpression:          aws.String("ADD n :one"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
	}})
	e := key
	e.Kind, e.Result = KindWrite, "ok"
	switch {
	case errors.Is(err, lock.ErrLockLost):
		e.Result = "lost"
	case err != nil:
		e.Result = "error"
	}
	w.rec.record(e)
}

// KindCtxDone: the section's context ended (its deadline, a lost
// heartbeat, or the run's end).
const KindCtxDone = "ctxdone"

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
