package once

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/appdata"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/lock"
)

// Kinds of copies of an event.
const (
	kindFirst      = "first"
	kindConcurrent = "concurrent"  // sent at the same time as the first
	kindLost       = "lost answer" // sent while the first runs, as if its answer were lost
	kindAfter      = "after"       // sent after the first was answered
)

// copyOf is one copy of an event: a message that must end acknowledged,
// redelivered after every failure.
type copyOf struct {
	event    Event
	kind     string
	kill     string // the first delivery's kill point, if any
	attempts []*sent
}

// sent is one delivery of a copy and what came of it.
type sent struct {
	d        delivery
	copy     *copyOf
	worker   int
	at, done time.Time
	answer   *answer // nil: killed, its answer lost with its worker
	killedAt time.Time
	ended    chan struct{}
}

// Run runs the proof with cfg and returns the checked report. Its error
// is about running it, not about what the check found.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	started := time.Now()
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
	d := &driver{cfg: cfg, db: db, lockTable: "once-locks-" + suffix, appTable: "once-app-" + suffix,
		workers: map[int]*proc{}, inflight: map[int]*sent{}, faults: map[int]map[string]int{}}
	if err := lock.CreateTable(ctx, db, d.lockTable); err != nil {
		return nil, err
	}
	if _, err := db.CreateTable(ctx, appdata.CreateTableInput(d.appTable)); err != nil {
		return nil, fmt.Errorf("once: %w", err)
	}
	copies, err := d.plan(ctx)
	if err != nil {
		return nil, err
	}
	if err := d.warmUp(ctx); err != nil {
		return nil, err
	}
	for range cfg.Workers {
		if err := d.spawn(); err != nil {
			return nil, err
		}
	}
	d.logf("%d events, %d copies, %d workers", cfg.Events, len(copies), cfg.Workers)
	runErr := d.deliverAll(ctx, copies)
	d.stopAll()
	// Every lease has ended a lease and the tolerance after the last
	// delivery's start.
	time.Sleep(cfg.lease() + 2*cfg.Tolerance)
	r, err := d.check(context.WithoutCancel(ctx), copies)
	if err := errors.Join(runErr, err); err != nil {
		return nil, err
	}
	r.Elapsed = time.Since(started)
	return r, nil
}

type driver struct {
	cfg                 Config
	db                  *dynamodb.Client
	lockTable, appTable string

	mu       sync.Mutex // protects the fields below
	nextN    int
	nextID   int
	workers  map[int]*proc
	inflight map[int]*sent // by delivery number
	kills    int
	faults   map[int]map[string]int // by worker: the latest counts seen
	stopping bool
	failures atomic.Int64 // failed deliveries, for the first few's logs
}

// proc is a worker process.
type proc struct {
	id      int
	process *os.Process
	wmu     sync.Mutex // serialises writes to stdin
	stdin   io.WriteCloser
	pending map[int]*sent // by delivery number; the driver's mu protects it and dead
	dead    bool
	exited  chan struct{}
}

// warmUp runs DynamoDB Local's paths (conditional updates, transactions)
// a while first: a fresh one compiles them on the first requests, which
// then take hundreds of milliseconds.
func (d *driver) warmUp(ctx context.Context) error {
	locks, err := lock.NewClient(d.db, d.lockTable, lock.WithClockSkewTolerance(d.cfg.Tolerance))
	if err != nil {
		return err
	}
	item := types.TransactWriteItem{Update: &types.Update{TableName: &d.appTable, Key: appdata.Key("warm-up"),
		UpdateExpression: aws.String("ADD #c :one"), ExpressionAttributeNames: map[string]string{"#c": "Count"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": appdata.N(1)}}}
	for i := range 150 {
		cl, err := locks.Claim(ctx, fmt.Sprintf("warm-up/%d", i%10), nil)
		if err != nil {
			return fmt.Errorf("once: warm-up: %w", err)
		}
		if cl.Lease == nil {
			continue
		}
		if err := cl.Lease.Write(ctx, []types.TransactWriteItem{item}, lock.AndComplete(cl.Lease, nil)); err != nil {
			return fmt.Errorf("once: warm-up: %w", err)
		}
	}
	return nil
}

// plan makes the events and their copies, and opens their accounts.
func (d *driver) plan(ctx context.Context) ([]*copyOf, error) {
	c := d.cfg
	for a := range c.Accounts {
		if _, err := d.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &d.appTable, Item: map[string]types.AttributeValue{
			appdata.PartitionKey: appdata.S(accountID(strconv.Itoa(a))), "Balance": appdata.N(0)}}); err != nil {
			return nil, fmt.Errorf("once: %w", err)
		}
	}
	var copies []*copyOf
	for i := range c.Events {
		ev := Event{ID: fmt.Sprintf("e-%05d", i), Account: strconv.Itoa(rand.N(c.Accounts)), Amount: 1 + rand.Int64N(100)}
		first := &copyOf{event: ev, kind: kindFirst}
		if rand.Float64() < c.KillRate {
			first.kill = []string{killBefore, killAfter}[rand.N(2)]
		}
		copies = append(copies, first)
		for range rand.N(c.MaxCopies) {
			kind := kindAfter
			switch x := rand.Float64(); {
			case x < c.ConcurrentRate:
				kind = kindConcurrent
			case x < c.ConcurrentRate+c.LostRate:
				kind = kindLost
			}
			copies = append(copies, &copyOf{event: ev, kind: kind})
		}
	}
	return copies, nil
}

// deliverAll delivers every event's copies, each until it is answered
// without an error, starting events evenly over the duration.
func (d *driver) deliverAll(ctx context.Context, copies []*copyOf) error {
	byEvent := map[string][]*copyOf{}
	var order []string
	for _, cp := range copies {
		if byEvent[cp.event.ID] == nil {
			order = append(order, cp.event.ID)
		}
		byEvent[cp.event.ID] = append(byEvent[cp.event.ID], cp)
	}
	step := d.cfg.Duration / time.Duration(len(order))
	var wg sync.WaitGroup
	errs := make(chan error, len(copies))
	for i, id := range order {
		at := time.Now().Add(time.Duration(i) * step)
		cps := byEvent[id]
		wg.Go(func() {
			time.Sleep(time.Until(at))
			first := make(chan struct{})
			var inner sync.WaitGroup
			for _, cp := range cps {
				inner.Go(func() {
					switch cp.kind {
					case kindFirst:
						defer close(first)
					case kindLost:
						time.Sleep(time.Duration(rand.N(200)) * time.Millisecond)
					case kindAfter:
						<-first
						time.Sleep(time.Duration(rand.N(300)) * time.Millisecond)
					}
					if err := d.deliverCopy(ctx, cp); err != nil {
						errs <- err
					}
				})
			}
			inner.Wait()
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// deliverCopy delivers cp until an answer without an error (or
// MaxAttempts), redelivering after each failure as SQS or Lambda would.
// The first copy's kill point, if any, goes with its first delivery: the
// kind "lost answer" has the first's answer ignored, as its copy is sent
// while the first still runs.
func (d *driver) deliverCopy(ctx context.Context, cp *copyOf) error {
	for attempt := range d.cfg.MaxAttempts {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s := &sent{copy: cp, d: delivery{Event: cp.event, Timeout: d.cfg.Timeout}}
		if attempt == 0 {
			s.d.Kill = cp.kill
		}
		done := d.send(s)
		<-done
		cp.attempts = append(cp.attempts, s)
		if s.answer != nil && s.answer.Err == "" {
			return nil
		}
		time.Sleep(d.cfg.Retry/2 + rand.N(d.cfg.Retry))
	}
	return nil // the check reports the copy as never acknowledged
}

// send hands s to a live worker and returns a channel closed when it is
// answered or its worker died.
func (d *driver) send(s *sent) <-chan struct{} {
	s.ended = make(chan struct{})
	for {
		d.mu.Lock()
		var live []*proc
		for _, p := range d.workers {
			if !p.dead {
				live = append(live, p)
			}
		}
		if len(live) == 0 {
			d.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p := live[rand.N(len(live))]
		d.nextN++
		s.d.N, s.worker, s.at = d.nextN, p.id, time.Now()
		d.inflight[s.d.N] = s
		p.pending[s.d.N] = s
		d.mu.Unlock()
		b, _ := json.Marshal(s.d)
		p.wmu.Lock()
		_, _ = p.stdin.Write(append(b, '\n')) // a dead worker's reaper ends s
		p.wmu.Unlock()
		return s.ended
	}
}

// finish records the end of delivery n of worker p (a nil answer: its
// worker was killed).
func (d *driver) finish(p *proc, n int, a *answer, killedAt time.Time) {
	d.mu.Lock()
	s := d.inflight[n]
	delete(d.inflight, n)
	delete(p.pending, n)
	if a != nil {
		if d.faults[p.id] == nil {
			d.faults[p.id] = map[string]int{}
		}
		for k, v := range a.Faults {
			d.faults[p.id][k] = max(d.faults[p.id][k], v)
		}
	}
	d.mu.Unlock()
	if s != nil {
		s.answer, s.done, s.killedAt = a, time.Now(), killedAt
		close(s.ended)
	}
}

// spawn starts a worker process.
func (d *driver) spawn() error {
	d.mu.Lock()
	id := d.nextID
	d.nextID++
	d.mu.Unlock()
	wc := workerConfig{ID: id, Endpoint: d.cfg.Endpoint, LockTable: d.lockTable, AppTable: d.appTable,
		Reserve: d.cfg.Reserve, Grace: d.cfg.Grace, Tolerance: d.cfg.Tolerance, Wait: rand.N(2) == 0,
		FaultRate: d.cfg.FaultRate, DelayRate: d.cfg.DelayRate, LateRate: d.cfg.LateRate, MaxDelay: d.cfg.MaxDelay, LateMax: d.cfg.LateMax}
	b, _ := json.Marshal(wc)
	cmd := d.cfg.Command()
	cmd.Env = append(os.Environ(), EnvWorker+"="+string(b))
	setParentDeathSignal(cmd)
	cmd.Stderr = d.cfg.WorkerLog
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("once: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("once: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("once: start worker: %w", err)
	}
	p := &proc{id: id, process: cmd.Process, stdin: stdin, pending: map[int]*sent{}, exited: make(chan struct{})}
	d.mu.Lock()
	d.workers[id] = p
	d.mu.Unlock()
	go d.read(p, stdout, func() { _ = cmd.Wait() })
	return nil
}

// read relays p's answers and kill requests, then reaps it: its
// deliveries still pending end without an answer.
func (d *driver) read(p *proc, stdout io.Reader, wait func()) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var killedAt time.Time
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, killLine); ok {
			killedAt = time.Now()
			_ = p.process.Signal(syscall.SIGKILL)
			d.mu.Lock()
			d.kills++
			d.mu.Unlock()
			d.logf("worker %d SIGKILLed mid-handler of delivery %s", p.id, n)
			break
		}
		var a answer
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			d.logf("worker %d: %v: %q", p.id, err, line)
			continue
		}
		if a.Err != "" && d.failures.Add(1) <= 5 {
			d.logf("worker %d: delivery %d failed: %s", p.id, a.N, a.Err)
		}
		d.finish(p, a.N, &a, time.Time{})
	}
	_, _ = io.Copy(io.Discard, stdout)
	wait()
	d.mu.Lock()
	p.dead = true
	stopping := d.stopping
	var lost []int
	for n := range p.pending {
		lost = append(lost, n)
	}
	d.mu.Unlock()
	if killedAt.IsZero() {
		killedAt = time.Now()
	}
	for _, n := range lost {
		d.finish(p, n, nil, killedAt)
	}
	close(p.exited)
	if !stopping {
		if err := d.spawn(); err != nil {
			d.logf("respawn: %v", err)
		}
	}
}

// stopAll closes the workers' input, so that they finish what they have
// and exit, and waits for them.
func (d *driver) stopAll() {
	d.mu.Lock()
	d.stopping = true
	ps := make([]*proc, 0, len(d.workers))
	for _, p := range d.workers {
		ps = append(ps, p)
	}
	d.mu.Unlock()
	for _, p := range ps {
		p.wmu.Lock()
		_ = p.stdin.Close()
		p.wmu.Unlock()
	}
	for _, p := range ps {
		select {
		case <-p.exited:
		case <-time.After(d.cfg.lease() + 5*time.Second):
			_ = p.process.Signal(syscall.SIGKILL)
			<-p.exited
		}
	}
}

func (d *driver) logf(format string, args ...any) {
	if d.cfg.Log != nil {
		fmt.Fprintf(d.cfg.Log, "once: "+format+"\n", args...)
	}
}
