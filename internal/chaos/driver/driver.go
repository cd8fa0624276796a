package driver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/chaos/check"
	"github.com/dynalock/dynalock/internal/chaos/history"
	"github.com/dynalock/dynalock/internal/chaos/ledger"
	"github.com/dynalock/dynalock/internal/chaos/worker"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/testshape"
)

// shutdownGrace is how long workers get to stop after SIGTERM before they
// are killed; a paused holder may sleep about two TTLs first.
const shutdownGrace = 15 * time.Second

// Run runs a chaos history with cfg and returns the checked report. Its
// error is about running the history, not about what the check found.
func Run(ctx context.Context, cfg Config) (*check.Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Endpoint == "" {
		srv, err := dynamotest.Start(ctx)
		if err != nil {
			return nil, err
		}
		defer srv.Stop()
		cfg.Endpoint = srv.Endpoint
	}
	db := dynamotest.NewClient(cfg.Endpoint)
	suffix := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	lockTable, ledgerTable := "chaos-locks-"+suffix, "chaos-ledger-"+suffix
	shape, err := testshape.Named(cfg.Shape)
	if err != nil {
		return nil, fmt.Errorf("driver: %w", err)
	}
	if err := shape.Table.CreateTable(ctx, db, lockTable); err != nil {
		return nil, err
	}
	if shape.IsShared() {
		ledgerTable = lockTable // the ledger's items beside the locks
	} else if err := ledger.CreateTable(ctx, db, ledgerTable); err != nil {
		return nil, err
	}
	rec, err := history.Create(filepath.Join(cfg.Dir, history.DriverFile))
	if err != nil {
		return nil, err
	}
	d := &driver{cfg: cfg, rec: rec, lockTable: lockTable, ledgerTable: ledgerTable,
		procs: map[int]*proc{}, killReqs: make(chan int, 16), exits: make(chan exit, 16)}
	rec.Record(history.Event{Kind: history.KindRun, Run: &history.Run{
		LockIDs: cfg.LockIDs, Tolerance: cfg.Tolerance, TTLMin: cfg.TTLMin, TTLMax: cfg.TTLMax,
		MaxDelay: cfg.MaxDelay, RetryMax: cfg.RetryMax, Slack: cfg.slack(), Duration: cfg.Duration,
		LateMax: cfg.LateMax, BatchSlack: cfg.SchedulingSlack, ObservedOnly: cfg.ObservedOnly,
	}})
	lastExit, runErr := d.run(ctx)
	// Every lease has ended once the longest lease, counted from the last
	// process's death, and the tolerance either way have passed.
	time.Sleep(time.Until(lastExit.Add(cfg.maxLease() + 2*cfg.Tolerance + 100*time.Millisecond)))
	final, finalErr := readFinal(context.WithoutCancel(ctx), db, shape, cfg.LockIDs, lockTable, ledgerTable)
	if err := errors.Join(runErr, finalErr, rec.Close(), writeFinal(cfg.Dir, final)); err != nil {
		return nil, err
	}
	h, err := history.Load(cfg.Dir)
	if err != nil {
		return nil, err
	}
	return check.Check(h), nil
}

type driver struct {
	cfg                    Config
	rec                    *history.Recorder
	lockTable, ledgerTable string
	nextID                 int
	procs                  map[int]*proc // live workers by ID; only the run loop touches it
	killReqs               chan int      // workers that asked to be killed
	exits                  chan exit     // workers reaped
	kills                  int
}

type proc struct {
	cmd    *exec.Cmd
	killed bool
	termed bool
}

type exit struct {
	id   int
	code int
	at   time.Time
	err  string
}

// run keeps cfg.Workers workers running for the duration, killing some,
// then stops them all. It returns when the last one was reaped.
func (d *driver) run(ctx context.Context) (time.Time, error) {
	for range d.cfg.Workers {
		if err := d.spawn(); err != nil {
			d.stopAll(true)
			return d.drain(), err
		}
	}
	start := time.Now()
	stop := time.NewTimer(d.cfg.Duration)
	defer stop.Stop()
	kill := time.NewTimer(d.nextKill())
	defer kill.Stop()
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	for {
		select {
		case <-ctx.Done():
			d.stopAll(true)
			return d.drain(), ctx.Err()
		case <-stop.C:
			d.logf("%s: stopping %d workers", time.Since(start).Round(time.Second), len(d.procs))
			d.stopAll(false)
			return d.drain(), nil
		case <-progress.C:
			d.logf("%s: %d workers running, %d started, %d killed", time.Since(start).Round(time.Second), len(d.procs), d.nextID, d.kills)
		case <-kill.C:
			if ids := d.live(); len(ids) > 0 {
				d.kill(ids[rand.N(len(ids))], "random")
			}
			kill.Reset(d.nextKill())
		case id := <-d.killReqs:
			d.kill(id, "requested")
		case e := <-d.exits:
			d.ended(e)
			if err := d.spawn(); err != nil {
				d.stopAll(true)
				return d.drain(), err
			}
		}
	}
}

// drain waits for every live worker to be reaped, killing those that do
// not stop within the grace period, and returns when the last one was.
func (d *driver) drain() time.Time {
	last := time.Now()
	grace := time.NewTimer(shutdownGrace)
	defer grace.Stop()
	for len(d.procs) > 0 {
		select {
		case id := <-d.killReqs:
			d.kill(id, "requested")
		case e := <-d.exits:
			d.ended(e)
			last = e.at
		case <-grace.C:
			for _, id := range d.live() {
				d.kill(id, "shutdown")
			}
		}
	}
	return last
}

func (d *driver) nextKill() time.Duration {
	if d.cfg.KillEvery <= 0 {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(rand.ExpFloat64() * float64(d.cfg.KillEvery))
}

func (d *driver) live() []int {
	ids := make([]int, 0, len(d.procs))
	for id, p := range d.procs {
		if !p.killed {
			ids = append(ids, id)
		}
	}
	return ids
}

// kill sends worker id SIGKILL, once, and records when.
func (d *driver) kill(id int, reason string) {
	p := d.procs[id]
	if p == nil || p.killed {
		return
	}
	p.killed = true
	if err := p.cmd.Process.Kill(); err != nil {
		return // it has already exited; its exit will be reaped
	}
	d.kills++
	d.rec.Record(history.Event{Kind: history.KindKill, Worker: id, Reason: reason})
}

// stopAll asks every worker to stop, or kills them all.
func (d *driver) stopAll(now bool) {
	for _, id := range d.live() {
		p := d.procs[id]
		if now {
			d.kill(id, "shutdown")
		} else if !p.termed {
			p.termed = true
			d.rec.Record(history.Event{Kind: history.KindTerm, Worker: id})
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
}

func (d *driver) ended(e exit) {
	delete(d.procs, e.id)
	d.rec.Record(history.Event{Kind: history.KindEnd, Time: history.Nanos(e.at), Worker: e.id, Code: e.code, Err: e.err})
}

// spawn starts a new worker with settings drawn at random.
func (d *driver) spawn() error {
	c := d.cfg
	id := d.nextID
	d.nextID++
	wc := worker.Config{
		ID: id, Endpoint: c.Endpoint, LockTable: d.lockTable, LedgerTable: d.ledgerTable, LockIDs: c.LockIDs, Shape: c.Shape,
		History:       filepath.Join(c.Dir, history.WorkerFile(id)),
		Offset:        time.Duration((rand.Float64() - 0.5) * float64(c.Skew)),
		Tolerance:     c.Tolerance,
		TTLMin:        c.TTLMin,
		TTLMax:        c.TTLMax,
		Wait:          c.Wait,
		RetryFirst:    c.RetryFirst,
		RetryMax:      c.RetryMax,
		FaultRate:     rand.Float64() * c.FaultRate,
		DelayRate:     rand.Float64() * c.DelayRate,
		MaxDelay:      c.MaxDelay,
		SDKAttempts:   c.SDKAttempts,
		SDKMaxBackoff: c.SDKMaxBackoff,
		HeartbeatRate: rand.Float64() * c.HeartbeatRate,
		PauseRate:     rand.Float64() * c.PauseRate,
		KillRate:      rand.Float64() * c.KillRate,
		ExtendRate:    rand.Float64() * c.ExtendRate,
		DoAllRate:     rand.Float64() * c.DoAllRate,
		RunRate:       rand.Float64() * c.RunRate,
		SQSRate:       rand.Float64() * c.SQSRate,
		SQSTimeoutMin: c.SQSTimeoutMin,
		SQSTimeoutMax: c.SQSTimeoutMax,
		OverdueAfter:  c.overdueAfter(),
		LateRate:      rand.Float64() * c.LateRate,
		RetryLateRate: rand.Float64() * c.RetryLateRate,
		LateMax:       c.LateMax,
		ShortRate:     rand.Float64() * c.ShortRate,
		ShortMax:      c.ShortMax,

		UnsafeConditions: c.UnsafeConditions,
		ObservedOnly:     c.ObservedOnly,
	}
	if c.ObservedOnly {
		wc.SQSRate = 0 // the middleware's lock calls take no lockopt options
	}
	if c.OperatorEvery > 0 && rand.N(3) > 0 {
		wc.OperatorEvery = time.Duration((1 + 3*rand.Float64()) * float64(c.OperatorEvery))
		wc.OperatorBurst = rand.Float64() * c.OperatorBurst
		wc.TargetRate = rand.Float64() * c.TargetRate
	}
	cmd := c.Command()
	cmd.Env = append(os.Environ(), worker.EnvConfig+"="+wc.Encode())
	setParentDeathSignal(cmd)
	stderr, err := os.Create(filepath.Join(c.Dir, fmt.Sprintf("worker-%03d.stderr", id)))
	if err != nil {
		return fmt.Errorf("driver: %w", err)
	}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stderr.Close()
		return fmt.Errorf("driver: %w", err)
	}
	// Recorded before the start, so that the history knows the worker
	// before any of its events.
	d.rec.Record(history.Event{Kind: history.KindSpawn, Worker: id, Offset: int64(wc.Offset)})
	if err := cmd.Start(); err != nil {
		stderr.Close()
		return fmt.Errorf("driver: start worker: %w", err)
	}
	d.procs[id] = &proc{cmd: cmd}
	go d.watch(id, cmd, stdout, stderr)
	return nil
}

// watch relays a worker's requests to be killed, then reaps it.
func (d *driver) watch(id int, cmd *exec.Cmd, stdout io.Reader, stderr *os.File) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == worker.KillMeLine {
			d.killReqs <- id
		}
	}
	err := cmd.Wait()
	at := time.Now()
	stderr.Close()
	e := exit{id: id, code: cmd.ProcessState.ExitCode(), at: at}
	if err != nil && e.code != -1 {
		e.err = tail(stderr.Name(), 2000)
	}
	d.exits <- e
}

func (d *driver) logf(format string, args ...any) {
	if d.cfg.Log != nil {
		fmt.Fprintf(d.cfg.Log, "chaos: "+format+"\n", args...)
	}
}

// readFinal reads every lock's item and ledger item.
func readFinal(ctx context.Context, db *dynamodb.Client, shape testshape.Shape, ids []string, lockTable, ledgerTable string) (history.Final, error) {
	f := history.Final{At: time.Now(), Locks: map[string]history.LockState{}, Ledgers: map[string]history.LedgerState{}}
	l := worker.Ledger(db, shape, ledgerTable)
	for _, id := range ids {
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(lockTable), ConsistentRead: aws.Bool(true),
			Key: shape.Table.Key(id),
		})
		if err != nil {
			return f, fmt.Errorf("driver: read lock %q: %w", id, err)
		}
		if len(out.Item) > 0 {
			r, err := shape.Table.Parse(out.Item)
			if err != nil {
				return f, err
			}
			f.Locks[id] = history.LockState{Exists: true, LeaseID: r.LeaseID, Token: r.Token, ExpiresAt: r.ExpiresAt, Released: r.Released,
				RelLease: attrS(out.Item, "ReleasedLease"), ForcedLease: attrS(out.Item, "ForcedLease")}
		}
		if f.Ledgers[id], err = l.Read(ctx, id); err != nil {
			return f, err
		}
	}
	return f, nil
}

// attrS returns the string attribute name of item, or "".
func attrS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func writeFinal(dir string, f history.Final) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("driver: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, history.FinalFile), b, 0o644)
}

// tail returns the last n bytes of the file at path, trimmed.
func tail(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return strings.TrimSpace(string(b))
}
