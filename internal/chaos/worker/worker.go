package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/internal/chaos/history"
	"github.com/dynalock/dynalock/internal/chaos/ledger"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/internal/testshape"
	"github.com/dynalock/dynalock/lock"
)

// KillMeLine is what a worker prints on its standard output, alone on a
// line, when it wants the driver to kill it: it is inside a critical
// section and does nothing more until it dies.
const KillMeLine = "KILLME"

// Main runs the worker that EnvConfig describes until SIGTERM or SIGINT,
// and returns the process's exit code.
func Main() int {
	cfg, err := Decode(os.Getenv(EnvConfig))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := Run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "worker %d: %v\n", cfg.ID, err)
		return 1
	}
	return 0
}

// newDB returns a DynamoDB client over a faulty connection whose requests
// f decides and records.
func newDB(cfg Config, f *faults) *dynamodb.Client {
	net := &httpfault.Client{Next: f.transport(awshttp.NewBuildableClient()), Rule: f.rule}
	return dynamotest.NewClient(cfg.Endpoint, func(o *dynamodb.Options) {
		o.HTTPClient = net
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = cfg.SDKAttempts
			so.MaxBackoff = cfg.SDKMaxBackoff
			so.RateLimiter = ratelimit.None
		})
	})
}

// Run contends for cfg's locks until ctx ends. It asks to be killed by
// writing KillMeLine to killTo.
func Run(ctx context.Context, cfg Config, killTo io.Writer) error {
	rec, err := history.Create(cfg.History)
	if err != nil {
		return err
	}
	rec.Record(history.Event{Kind: history.KindWorker, Worker: cfg.ID, PID: os.Getpid(), Offset: int64(cfg.Offset)})
	shape, err := testshape.Named(cfg.Shape)
	if err != nil {
		return errors.Join(err, rec.Close())
	}
	cfg.table = shape.Table
	var op *operator
	var hint func(string) bool
	if cfg.OperatorEvery > 0 {
		op = &operator{cfg: cfg, rec: rec, hints: make(chan string, 4), clock: skewedClock(cfg.Offset)}
		hint = op.hint
		op.db = newDB(cfg, newFaults(cfg, rec, nil))
	}
	db := newDB(cfg, newFaults(cfg, rec, hint))
	obs := &observedDB{next: db, rec: rec, exp: map[leaseKey]int64{}, unsafe: cfg.UnsafeConditions, def: cfg.table}
	lcfg := shape.Apply(lock.Config{
		TableName:          cfg.LockTable,
		DynamoDB:           obs,
		Owner:              fmt.Sprintf("chaos-worker-%d", cfg.ID),
		Now:                skewedClock(cfg.Offset).Now,
		ClockSkewTolerance: cfg.Tolerance,
	})
	client, err := lock.NewClient(ctx, lcfg)
	if err != nil {
		return errors.Join(err, rec.Close())
	}
	// The middleware's heartbeat is its lock client's (Config.Heartbeat):
	// batches run with one take this client.
	lcfg.Heartbeat = sqsHeartbeat
	hbClient, err := lock.NewClient(ctx, lcfg)
	if err != nil {
		return errors.Join(err, rec.Close())
	}
	w := &worker{cfg: cfg, rec: rec, obs: obs, client: client, hbClient: hbClient, ledger: Ledger(db, shape, cfg.LedgerTable), killTo: killTo,
		// What the v0.0 client set for every call, and the v0.1 client
		// takes per call: how long to wait, the wait's steps, the bound of
		// a release that outlives its caller.
		base: []lock.Option{lock.WithWait(cfg.Wait), lockopt.RetryInterval(cfg.RetryFirst, cfg.RetryMax), lockopt.ReleaseTimeout(releaseTimeout)}}
	if cfg.ObservedOnly {
		w.base = append(w.base, lockopt.NoWallTakeover())
	}
	var wg sync.WaitGroup
	if op != nil {
		wg.Go(func() { op.run(ctx) })
	}
	wg.Go(func() { watchStalls(ctx, rec) })
	for ctx.Err() == nil {
		w.round(ctx)
		sleep(ctx, rand.N(20*time.Millisecond))
	}
	wg.Wait()
	return rec.Close()
}

// watchStalls records the spans in which this process did not run: a
// 20 ms ticker that sees more than 100 ms pass between two ticks. The
// checker allows a batch to return that much later.
func watchStalls(ctx context.Context, rec *history.Recorder) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := time.Now()
			if now.Sub(last) > 100*time.Millisecond {
				rec.Record(history.Event{Kind: history.KindStall, Start: history.Nanos(last), Time: history.Nanos(now)})
			}
			last = now
		}
	}
}

type worker struct {
	cfg    Config
	rec    *history.Recorder
	obs    *observedDB
	client *lock.Client
	// hbClient is client with a heartbeat (Config.Heartbeat), for the SQS
	// batches that run with one.
	hbClient *lock.Client
	// base are the options of every lock call, before the call's own.
	base   []lock.Option
	ledger *ledger.Ledger
	killTo io.Writer

	calls   atomic.Int64
	batches int
}

func (w *worker) newCall() int { return int(w.calls.Add(1)) }

// releaseTimeout bounds a release that outlives its caller's context (Do's
// after fn, the worker's own after an Acquire), unless a call draws a
// shorter one.
const releaseTimeout = 2 * time.Second

// Where a section asks to be killed.
const (
	noKill = iota
	killBeforeWrite
	killAfterWrite
)

// plan is what one section will do.
type plan struct {
	ttl           time.Duration
	heartbeat     bool
	before, after time.Duration // work before and after the ledger write
	pause         time.Duration // if positive, pause this long and write late
	kill          int
	extends       int // how many times the holder extends its lease itself
}

func (w *worker) plan(path string) plan {
	c := w.cfg
	p := plan{ttl: (c.TTLMin + rand.N(c.TTLMax-c.TTLMin+1)).Truncate(time.Millisecond)}
	// A heartbeat is Do's: a lease from Acquire has none (lock.Run, which
	// gave it one, is gone from the v0.1 API).
	p.heartbeat = path != history.PathRun && rand.Float64() < c.HeartbeatRate
	if rand.Float64() < c.ExtendRate {
		p.extends = 1 + rand.N(2)
	}
	work := p.ttl - c.Tolerance // the deadline, from the acquire
	switch r := rand.Float64(); {
	case p.heartbeat:
		work = 2 * p.ttl // outlasts the TTL: the heartbeat must keep the lease
	case p.extends > 0 || r < 0.15:
		work = 3 * p.ttl / 2 // outlasts the lease: the deadline must cut it
	case r < 0.4:
		// up to the deadline
	default:
		work = 30 * time.Millisecond // a short section: many handovers
	}
	total := rand.N(work + 1)
	if p.extends > 0 {
		total = work // run on until the context ends: into a shortened lease
	}
	p.before = rand.N(total/2 + 1)
	p.after = total - p.before
	if !p.heartbeat && p.extends == 0 && rand.Float64() < c.PauseRate {
		p.pause = p.ttl + 2*c.Tolerance + rand.N(p.ttl)
	}
	if rand.Float64() < c.KillRate {
		p.kill = killBeforeWrite + rand.N(2)
	}
	return p
}

// round runs one call on random locks, by one of the paths.
func (w *worker) round(ctx context.Context) {
	c := w.cfg
	switch r := rand.Float64(); {
	case r < c.SQSRate:
		w.batch(ctx)
	case r < c.SQSRate+c.DoAllRate:
		w.lockCall(ctx, history.PathDoAll, w.lockSet())
	case r < c.SQSRate+c.DoAllRate+c.RunRate:
		ids := []string{w.randomLock()}
		if rand.N(3) == 0 {
			ids = w.lockSet()
		}
		w.lockCall(ctx, history.PathRun, ids)
	default:
		w.lockCall(ctx, history.PathDo, []string{w.randomLock()})
	}
}

func (w *worker) randomLock() string { return w.cfg.LockIDs[rand.N(len(w.cfg.LockIDs))] }

// lockSet returns two or more of the locks, overlapping other sets, and
// sometimes one of them twice.
func (w *worker) lockSet() []string {
	ids := slices.Clone(w.cfg.LockIDs)
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	ids = ids[:min(len(ids), 2+rand.N(2))]
	if rand.N(4) == 0 {
		ids = append(ids, ids[0])
	}
	return ids
}

// lockCall takes ids by path (Lock(id).Do, Lock(ids...).Do, or
// Lock(ids...).Acquire with a context that may be short, then the worker's
// own run and Release), runs a section under them and records how it
// ended.
func (w *worker) lockCall(ctx context.Context, path string, ids []string) {
	p := w.plan(path)
	opts := append(slices.Clone(w.base), lockopt.TTL(p.ttl))
	if p.heartbeat {
		opts = append(opts, lockopt.Heartbeat((p.ttl-w.cfg.Tolerance)/3))
	}
	relTimeout := releaseTimeout
	if rand.Float64() < w.cfg.ShortRate {
		// A release given less time than its request may take.
		relTimeout = 1 + rand.N(w.cfg.ShortMax)
		opts = append(opts, lockopt.ReleaseTimeout(relTimeout))
	}
	call := w.newCall()
	short := path == history.PathRun && rand.Float64() < w.cfg.ShortRate
	w.rec.Record(history.Event{Kind: history.KindCall, Call: call, Path: path, Locks: ids, TTL: p.ttl.Milliseconds(), Heartbeat: p.heartbeat, Short: short})
	var held *lock.Lease
	fn := func(ctx context.Context) error {
		held, _ = lock.FromContext(ctx)
		w.section(ctx, call, path, p, sqsInfo{})
		return nil
	}
	var err error
	switch path {
	case history.PathDo:
		err = w.client.Lock(ids[0]).Do(ctx, fn, opts...)
	case history.PathDoAll:
		err = w.client.Lock(ids...).Do(ctx, fn, opts...)
	case history.PathRun:
		actx, cancel := ctx, context.CancelFunc(func() {})
		if short {
			// The caller gives up soon: a request held back longer
			// lands after it did.
			actx, cancel = context.WithTimeout(ctx, 1+rand.N(w.cfg.ShortMax))
		}
		var lease *lock.Lease
		lease, err = w.client.Lock(ids...).Acquire(actx, opts...)
		cancel()
		if err == nil {
			err = runUnder(ctx, lease, relTimeout, fn)
		}
	}
	if held == nil {
		e := history.Event{Kind: history.KindDone, Call: call, Result: acquireResult(err)}
		if err != nil {
			e.Err = err.Error()
		}
		w.rec.Record(e)
		return
	}
	locks := leaseLocks(held)
	for _, id := range locks {
		res, msg := releaseResult(id, err, len(locks) == 1)
		w.rec.Record(history.Event{Kind: history.KindDone, Call: call, Lock: id, Lease: held.LeaseID(), Result: res, Err: msg})
	}
}

// runUnder is what an Acquire's caller does with its lease, as lock.Run
// did before v0.1 (and Do does): fn runs on a context that carries the
// lease (lock.FromContext) and ends at its deadline, and the lease is
// released when fn returns, on a context that outlives ctx's cancellation,
// bounded by relTimeout. It returns fn's error and the release's, joined.
func runUnder(ctx context.Context, lease *lock.Lease, relTimeout time.Duration, fn func(context.Context) error) error {
	fnCtx, cancel := context.WithDeadlineCause(ctx, lease.Deadline(),
		fmt.Errorf("chaos: the lease ends (less the clock-skew tolerance): %w", context.DeadlineExceeded))
	err := fn(lock.NewContext(fnCtx, lease))
	cancel()
	rctx, cancelRel := context.WithTimeout(context.WithoutCancel(ctx), relTimeout)
	defer cancelRel()
	return errors.Join(err, lease.Release(rctx))
}

// leaseLocks returns the lock IDs of lease, sorted: a lease of several
// IDs holds them under one lease ID, each with its own token.
func leaseLocks(lease *lock.Lease) []string {
	return slices.Sorted(maps.Keys(lease.Tokens()))
}

func acquireResult(err error) string {
	if errors.Is(err, lock.ErrLockAlreadyAcquired) {
		return history.ResultHeld
	}
	return history.ResultAcquireError
}

// releaseResult tells, from the error of a Do (or of the worker's own
// release after an Acquire) whose fn returned nil, or of the middleware's
// logged release failure, how the release of lock id ended. only says
// that the lease held no other lock ID. The v0.1 lock reports a lost lock
// by an error matching lock.ErrLockLost whose message names it ("lock:
// %q lost: ..."); with several IDs, only the message tells which.
func releaseResult(id string, err error, only bool) (string, string) {
	if err == nil {
		return history.ResultReleased, ""
	}
	lost := ""
	prefix := fmt.Sprintf("lock: %q lost: ", id)
	walk(err, func(e error) {
		if errors.Is(e, lock.ErrLockLost) && strings.HasPrefix(e.Error(), prefix) {
			lost = e.Error()
		}
	})
	switch {
	case lost != "":
		return history.ResultLost, lost
	case only || strings.Contains(err.Error(), strconv.Quote(id)):
		return history.ResultReleaseError, err.Error()
	}
	return history.ResultReleased, ""
}

// walk calls f on err and on everything it wraps.
func walk(err error, f func(error)) {
	if err == nil {
		return
	}
	f(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, f)
		}
	}
}

// sqsInfo names the SQS record a section runs for, if any.
type sqsInfo struct {
	batch int
	msg   string
}

// section is the critical section under the lease in ctx (one lock ID or
// several): work, the fenced ledger writes (one per lock ID, with its
// token), more work, Extend calls in between; or a pause past the lease
// and late writes; or a request to be killed on the way. Everything but
// the pause ends with ctx. It records one section per lock ID of the
// lease.
func (w *worker) section(ctx context.Context, call int, path string, p plan, sqs sqsInfo) {
	lease, _ := lock.FromContext(ctx)
	ids := leaseLocks(lease)
	tokens := lease.Tokens()
	void := ctx.Err() != nil
	var ctxDl int64
	if dl, ok := ctx.Deadline(); ok {
		ctxDl = history.Nanos(dl)
	}
	for _, id := range ids {
		w.rec.Record(history.Event{
			Kind: history.KindEnter, Call: call, Path: path, Lock: id, Lease: lease.LeaseID(), Token: tokens[id],
			Deadline: history.Nanos(lease.Deadline()), CtxDl: ctxDl, ExpiresAt: w.obs.expiresAt(id, lease.LeaseID()),
			TTL: p.ttl.Milliseconds(), Heartbeat: p.heartbeat, Void: void, Batch: sqs.batch, Msg: sqs.msg,
		})
	}
	stop := context.AfterFunc(ctx, func() { w.rec.Record(history.Event{Kind: history.KindCtxDone, Call: call}) })
	defer func() {
		stop()
		// With a heartbeat or an Extend, the deadline has moved since the
		// entry.
		for _, id := range ids {
			w.rec.Record(history.Event{Kind: history.KindExit, Call: call, Lock: id, Lease: lease.LeaseID(), Deadline: history.Nanos(lease.Deadline())})
		}
	}()
	switch {
	case void:
		return
	case p.pause > 0:
		w.pauseThenWrite(call, ids, tokens, p.pause)
		return
	}
	if !sleep(ctx, p.before) {
		return
	}
	if p.kill == killBeforeWrite {
		w.killMe(call)
	}
	if p.extends > 0 {
		w.extend(ctx, call, lease, ids, p)
	}
	for _, id := range ids {
		w.write(ctx, call, id, tokens[id])
	}
	if p.kill == killAfterWrite {
		w.killMe(call)
	}
	if p.extends > 1 {
		if !sleep(ctx, rand.N(p.after/2+1)) {
			return
		}
		w.extend(ctx, call, lease, ids, p)
	}
	sleep(ctx, p.after)
}

// extend has the holder extend its lease itself, with a TTL shorter than
// what is left of the lease or longer, on the section's context or a
// shorter one. A lease of several lock IDs is extended as one (each ID's
// item), and the call is recorded for each.
func (w *worker) extend(ctx context.Context, call int, l *lock.Lease, ids []string, p plan) {
	tol := w.cfg.Tolerance
	before := l.Deadline()
	left := time.Until(before) + tol // to the lease's end, by the local clock
	shorter := rand.N(2) == 0
	var ttl time.Duration
	switch {
	case shorter && left > 2*tol+30*time.Millisecond && rand.N(4) > 0:
		// Much shorter, but no shorter than twice the tolerance (the
		// shortest TTL a lock may insist on).
		ttl = 2*tol + rand.N(min(left-2*tol-20*time.Millisecond, 50*time.Millisecond))
	case shorter && left > tol+30*time.Millisecond:
		ttl = tol + time.Millisecond + rand.N(min(left-tol-20*time.Millisecond, 50*time.Millisecond))
	default:
		shorter = false
		ttl = max(left, tol) + 20*time.Millisecond + rand.N(p.ttl)
	}
	ttl = ttl.Truncate(time.Millisecond)
	ectx, cancel := ctx, context.CancelFunc(func() {})
	short := rand.Float64() < w.cfg.ShortRate
	if short {
		ectx, cancel = context.WithTimeout(ctx, 1+rand.N(w.cfg.ShortMax))
	}
	start := time.Now()
	err := l.Extend(ectx, ttl)
	cancel()
	e := history.Event{
		Kind: history.KindExtend, Call: call, Lease: l.LeaseID(), Start: history.Nanos(start),
		TTL: ttl.Milliseconds(), Shorter: ttl < left, Short: short,
		Before: history.Nanos(before), Deadline: history.Nanos(l.Deadline()),
	}
	switch {
	case err == nil:
		e.Result = history.ResultOK
	case errors.Is(err, lock.ErrLockLost):
		e.Result = history.ResultLost
	case errors.Is(err, lock.ErrInvalidInput):
		e.Result = history.ResultInvalid
	default:
		e.Result = history.ResultError
	}
	if err != nil {
		e.Err = err.Error()
	}
	for _, id := range ids {
		e.Lock = id
		w.rec.Record(e)
	}
}

// write reads the ledger's counter and writes it back plus one, fenced by
// tok.
func (w *worker) write(ctx context.Context, call int, id string, tok int64) {
	start := time.Now()
	n, err := w.ledger.Writes(ctx, id)
	res := history.ResultSkipped
	if err == nil {
		err = w.ledger.Write(ctx, id, tok, n)
		res = result(err)
	}
	e := history.Event{Kind: history.KindWrite, Call: call, Start: history.Nanos(start), Lock: id, Token: tok, Result: res}
	if err != nil {
		e.Err = err.Error()
	}
	w.rec.Record(e)
}

// pauseThenWrite stops this holder for d, ignoring its deadline, as a long
// GC pause or a frozen Lambda sandbox would, then writes with its old
// tokens, as such a holder would on waking.
func (w *worker) pauseThenWrite(call int, ids []string, tokens map[string]int64, d time.Duration) {
	w.rec.Record(history.Event{Kind: history.KindPause, Call: call})
	time.Sleep(d)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, id := range ids {
		start := time.Now()
		err := w.ledger.WriteLate(ctx, id, tokens[id])
		e := history.Event{Kind: history.KindLate, Call: call, Start: history.Nanos(start), Lock: id, Token: tokens[id], Result: result(err)}
		if err != nil {
			e.Err = err.Error()
		}
		w.rec.Record(e)
	}
}

// killMe asks the driver to kill this process and waits for it, doing
// nothing more.
func (w *worker) killMe(call int) {
	w.rec.Record(history.Event{Kind: history.KindKillMe, Call: call})
	fmt.Fprintln(w.killTo, KillMeLine)
	for {
		time.Sleep(time.Hour)
	}
}

func result(err error) string {
	switch {
	case err == nil:
		return history.ResultOK
	case errors.Is(err, ledger.ErrFenced):
		return history.ResultRefused
	default:
		return history.ResultError
	}
}

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
