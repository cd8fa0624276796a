package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	var op *operator
	var hint func(string) bool
	if cfg.OperatorEvery > 0 {
		op = &operator{cfg: cfg, rec: rec, hints: make(chan string, 4), clock: skewedClock(cfg.Offset)}
		hint = op.hint
		op.db = newDB(cfg, newFaults(cfg, rec, nil))
	}
	db := newDB(cfg, newFaults(cfg, rec, hint))
	obs := &observedDB{next: db, rec: rec, exp: map[string]int64{}, unsafe: cfg.UnsafeConditions}
	client, err := lock.NewClient(obs, cfg.LockTable,
		lock.WithOwner(fmt.Sprintf("chaos-worker-%d", cfg.ID)),
		lock.WithClock(skewedClock(cfg.Offset)),
		lock.WithClockSkewTolerance(cfg.Tolerance),
		lock.WithWait(cfg.Wait),
		lock.WithRetryInterval(cfg.RetryFirst, cfg.RetryMax),
		lock.WithReleaseTimeout(2*time.Second),
	)
	if err != nil {
		return errors.Join(err, rec.Close())
	}
	w := &worker{cfg: cfg, rec: rec, obs: obs, client: client, ledger: ledger.New(db, cfg.LedgerTable), killTo: killTo}
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
	ledger *ledger.Ledger
	killTo io.Writer

	calls   atomic.Int64
	batches int
}

func (w *worker) newCall() int { return int(w.calls.Add(1)) }

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

func (w *worker) plan() plan {
	c := w.cfg
	p := plan{ttl: (c.TTLMin + rand.N(c.TTLMax-c.TTLMin+1)).Truncate(time.Millisecond)}
	p.heartbeat = rand.Float64() < c.HeartbeatRate
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

// lockCall takes ids by path (Do, DoAll, or Acquire/AcquireAll with a
// context that may be short, then Run), runs a section under them and
// records how it ended.
func (w *worker) lockCall(ctx context.Context, path string, ids []string) {
	p := w.plan()
	opts := []lock.Option{lock.WithTTL(p.ttl)}
	if p.heartbeat {
		opts = append(opts, lock.WithHeartbeat((p.ttl-w.cfg.Tolerance)/3))
	}
	if rand.Float64() < w.cfg.ShortRate {
		// A release given less time than its request may take.
		opts = append(opts, lock.WithReleaseTimeout(1+rand.N(w.cfg.ShortMax)))
	}
	call := w.newCall()
	short := path == history.PathRun && rand.Float64() < w.cfg.ShortRate
	w.rec.Record(history.Event{Kind: history.KindCall, Call: call, Path: path, Locks: ids, TTL: p.ttl.Milliseconds(), Heartbeat: p.heartbeat, Short: short})
	var leases []*lock.Lease
	fn := func(ctx context.Context) error {
		leases = lock.AllFromContext(ctx)
		w.section(ctx, call, path, p, sqsInfo{})
		return nil
	}
	var err error
	switch path {
	case history.PathDo:
		err = w.client.Do(ctx, ids[0], fn, opts...)
	case history.PathDoAll:
		err = w.client.DoAll(ctx, ids, fn, opts...)
	case history.PathRun:
		actx, cancel := ctx, context.CancelFunc(func() {})
		if short {
			// The caller gives up soon: a request held back longer
			// lands after it did.
			actx, cancel = context.WithTimeout(ctx, 1+rand.N(w.cfg.ShortMax))
		}
		var got []*lock.Lease
		if len(ids) == 1 {
			var l *lock.Lease
			if l, err = w.client.Acquire(actx, ids[0], opts...); err == nil {
				got = []*lock.Lease{l}
			}
		} else {
			got, err = w.client.AcquireAll(actx, ids, opts...)
		}
		cancel()
		if err == nil {
			err = lock.Run(ctx, got, fn)
		}
	}
	if leases == nil {
		e := history.Event{Kind: history.KindDone, Call: call, Result: acquireResult(err)}
		if err != nil {
			e.Err = err.Error()
		}
		w.rec.Record(e)
		return
	}
	for _, l := range leases {
		res, msg := releaseResult(l.LockID(), err, len(leases) == 1)
		w.rec.Record(history.Event{Kind: history.KindDone, Call: call, Lock: l.LockID(), Lease: l.LeaseID(), Result: res, Err: msg})
	}
}

func acquireResult(err error) string {
	if errors.Is(err, lock.ErrLockAlreadyAcquired) {
		return history.ResultHeld
	}
	return history.ResultAcquireError
}

// releaseResult tells, from the error of a Do, DoAll or Run whose fn
// returned nil (or of the middleware's logged release failure), how the
// release of the lease of lock id ended. only says that the call held no
// other lease.
func releaseResult(id string, err error, only bool) (string, string) {
	if err == nil {
		return history.ResultReleased, ""
	}
	lost := ""
	walk(err, func(e error) {
		if l, ok := e.(*lock.LostError); ok && l.LockID == id {
			lost = l.Error()
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

// section is the critical section under the leases in ctx: work, the
// fenced ledger writes (one per lease), more work, Extend calls in
// between; or a pause past the lease and late writes; or a request to be
// killed on the way. Everything but the pause ends with ctx.
func (w *worker) section(ctx context.Context, call int, path string, p plan, sqs sqsInfo) {
	leases := lock.AllFromContext(ctx)
	void := ctx.Err() != nil
	var ctxDl int64
	if dl, ok := ctx.Deadline(); ok {
		ctxDl = history.Nanos(dl)
	}
	for _, l := range leases {
		w.rec.Record(history.Event{
			Kind: history.KindEnter, Call: call, Path: path, Lock: l.LockID(), Lease: l.LeaseID(), Token: l.FencingToken(),
			Deadline: history.Nanos(l.Deadline()), CtxDl: ctxDl, ExpiresAt: w.obs.expiresAt(l.LeaseID()),
			TTL: p.ttl.Milliseconds(), Heartbeat: p.heartbeat, Void: void, Batch: sqs.batch, Msg: sqs.msg,
		})
	}
	stop := context.AfterFunc(ctx, func() { w.rec.Record(history.Event{Kind: history.KindCtxDone, Call: call}) })
	defer func() {
		stop()
		// With a heartbeat or an Extend, the deadline has moved since the
		// entry.
		for _, l := range leases {
			w.rec.Record(history.Event{Kind: history.KindExit, Call: call, Lock: l.LockID(), Lease: l.LeaseID(), Deadline: history.Nanos(l.Deadline())})
		}
	}()
	switch {
	case void:
		return
	case p.pause > 0:
		w.pauseThenWrite(call, leases, p.pause)
		return
	}
	if !sleep(ctx, p.before) {
		return
	}
	if p.kill == killBeforeWrite {
		w.killMe(call)
	}
	if p.extends > 0 {
		w.extend(ctx, call, leases[rand.N(len(leases))], p)
	}
	for _, l := range leases {
		w.write(ctx, call, l.LockID(), l.FencingToken())
	}
	if p.kill == killAfterWrite {
		w.killMe(call)
	}
	if p.extends > 1 {
		if !sleep(ctx, rand.N(p.after/2+1)) {
			return
		}
		w.extend(ctx, call, leases[rand.N(len(leases))], p)
	}
	sleep(ctx, p.after)
}

// extend has the holder extend l itself, with a TTL shorter than what is
// left of the lease or longer, on the section's context or a shorter one.
func (w *worker) extend(ctx context.Context, call int, l *lock.Lease, p plan) {
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
		Kind: history.KindExtend, Call: call, Lock: l.LockID(), Lease: l.LeaseID(), Start: history.Nanos(start),
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
	w.rec.Record(e)
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
func (w *worker) pauseThenWrite(call int, leases []*lock.Lease, d time.Duration) {
	w.rec.Record(history.Event{Kind: history.KindPause, Call: call})
	time.Sleep(d)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, l := range leases {
		start := time.Now()
		err := w.ledger.WriteLate(ctx, l.LockID(), l.FencingToken())
		e := history.Event{Kind: history.KindLate, Call: call, Start: history.Nanos(start), Lock: l.LockID(), Token: l.FencingToken(), Result: result(err)}
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
