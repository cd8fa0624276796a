package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
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

// Run contends for cfg's locks until ctx ends. It asks to be killed by
// writing KillMeLine to killTo.
func Run(ctx context.Context, cfg Config, killTo io.Writer) error {
	rec, err := history.Create(cfg.History)
	if err != nil {
		return err
	}
	rec.Record(history.Event{Kind: history.KindWorker, Worker: cfg.ID, PID: os.Getpid(), Offset: int64(cfg.Offset)})
	net := &httpfault.Client{Next: awshttp.NewBuildableClient(), Rule: faultRule(cfg, rec)}
	db := dynamotest.NewClient(cfg.Endpoint, func(o *dynamodb.Options) {
		o.HTTPClient = net
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = cfg.SDKAttempts
			so.MaxBackoff = cfg.SDKMaxBackoff
			so.RateLimiter = ratelimit.None
		})
	})
	obs := &observedDB{next: db, rec: rec, exp: map[string]int64{}}
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
	for ctx.Err() == nil {
		w.round(ctx)
		sleep(ctx, rand.N(20*time.Millisecond))
	}
	return rec.Close()
}

type worker struct {
	cfg    Config
	rec    *history.Recorder
	obs    *observedDB
	client *lock.Client
	ledger *ledger.Ledger
	killTo io.Writer
}

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
}

func (w *worker) plan() plan {
	c := w.cfg
	p := plan{ttl: (c.TTLMin + rand.N(c.TTLMax-c.TTLMin+1)).Truncate(time.Millisecond)}
	p.heartbeat = rand.Float64() < c.HeartbeatRate
	work := p.ttl - c.Tolerance // the deadline, from the acquire
	switch r := rand.Float64(); {
	case p.heartbeat:
		work = 2 * p.ttl // outlasts the TTL: the heartbeat must keep the lease
	case r < 0.15:
		work = 3 * p.ttl / 2 // outlasts the lease: the deadline must cut it
	case r < 0.4:
		// up to the deadline
	default:
		work = 30 * time.Millisecond // a short section: many handovers
	}
	total := rand.N(work + 1)
	p.before = rand.N(total + 1)
	p.after = total - p.before
	if !p.heartbeat && rand.Float64() < c.PauseRate {
		p.pause = p.ttl + 2*c.Tolerance + rand.N(p.ttl)
	}
	if rand.Float64() < c.KillRate {
		p.kill = killBeforeWrite + rand.N(2)
	}
	return p
}

// round makes one Do call on a random lock.
func (w *worker) round(ctx context.Context) {
	id := w.cfg.LockIDs[rand.N(len(w.cfg.LockIDs))]
	p := w.plan()
	opts := []lock.Option{lock.WithTTL(p.ttl)}
	if p.heartbeat {
		opts = append(opts, lock.WithHeartbeat((p.ttl-w.cfg.Tolerance)/3))
	}
	w.rec.Record(history.Event{Kind: history.KindCall, Lock: id, TTL: p.ttl.Milliseconds(), Heartbeat: p.heartbeat})
	entered := false
	err := w.client.Do(ctx, id, func(ctx context.Context) error {
		entered = true
		w.section(ctx, id, p)
		return nil
	}, opts...)
	e := history.Event{Kind: history.KindDone, Lock: id}
	switch {
	case entered && err == nil:
		e.Result = history.ResultReleased
	case entered && errors.Is(err, lock.ErrLockLost):
		e.Result = history.ResultLost
	case entered:
		e.Result = history.ResultReleaseError
	case errors.Is(err, lock.ErrLockAlreadyAcquired):
		e.Result = history.ResultHeld
	default:
		e.Result = history.ResultAcquireError
	}
	if err != nil {
		e.Err = err.Error()
	}
	w.rec.Record(e)
}

// section is the critical section: work, the fenced ledger write, more
// work; or a pause past the lease and a late write; or a request to be
// killed on the way. Everything but the pause ends with ctx.
func (w *worker) section(ctx context.Context, id string, p plan) {
	lease, _ := lock.FromContext(ctx)
	tok := lease.FencingToken()
	void := ctx.Err() != nil
	w.rec.Record(history.Event{
		Kind: history.KindEnter, Lock: id, Lease: lease.LeaseID(), Token: tok,
		Deadline: history.Nanos(lease.Deadline()), ExpiresAt: w.obs.expiresAt(lease.LeaseID()),
		TTL: p.ttl.Milliseconds(), Heartbeat: p.heartbeat, Void: void,
	})
	defer func() {
		// With a heartbeat, the deadline has moved since the entry.
		w.rec.Record(history.Event{Kind: history.KindExit, Lock: id, Deadline: history.Nanos(lease.Deadline())})
	}()
	switch {
	case void:
		return
	case p.pause > 0:
		w.pauseThenWrite(id, tok, p.pause)
		return
	}
	if !sleep(ctx, p.before) {
		return
	}
	if p.kill == killBeforeWrite {
		w.killMe()
	}
	w.write(ctx, id, tok)
	if p.kill == killAfterWrite {
		w.killMe()
	}
	sleep(ctx, p.after)
}

// write reads the ledger's counter and writes it back plus one, fenced by
// tok.
func (w *worker) write(ctx context.Context, id string, tok int64) {
	start := time.Now()
	n, err := w.ledger.Writes(ctx, id)
	res := history.ResultSkipped
	if err == nil {
		err = w.ledger.Write(ctx, id, tok, n)
		res = result(err)
	}
	e := history.Event{Kind: history.KindWrite, Start: history.Nanos(start), Lock: id, Token: tok, Result: res}
	if err != nil {
		e.Err = err.Error()
	}
	w.rec.Record(e)
}

// pauseThenWrite stops this holder for d, ignoring its deadline, as a long
// GC pause or a frozen Lambda sandbox would, then writes with its old
// token, as such a holder would on waking.
func (w *worker) pauseThenWrite(id string, tok int64, d time.Duration) {
	w.rec.Record(history.Event{Kind: history.KindPause, Lock: id})
	time.Sleep(d)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := w.ledger.WriteLate(ctx, id, tok)
	e := history.Event{Kind: history.KindLate, Start: history.Nanos(start), Lock: id, Token: tok, Result: result(err)}
	if err != nil {
		e.Err = err.Error()
	}
	w.rec.Record(e)
}

// killMe asks the driver to kill this process and waits for it, doing
// nothing more.
func (w *worker) killMe() {
	w.rec.Record(history.Event{Kind: history.KindKillMe})
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
