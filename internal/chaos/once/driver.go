package once

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/examples/shop/appdata"
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
	index    int    // in its event's copies
	path     string // the event's delivery path
	kind     string
	kill     string // the first delivery's kill point, if any
	attempts []*sent
}

// sent is one delivery of a copy and what came of it.
type sent struct {
	d        delivery
	copy     *copyOf
	attempt  int
	worker   int
	at, done time.Time
	answer   *answer // nil: killed, its answer lost with its worker
	killedAt time.Time
	ended    chan struct{}
}

// Run runs the proof with cfg, writes its history (cfg.History), and
// returns the report that Check made of that file. Its error is about
// running it, not about what the check found.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	started := time.Now()
	if cfg.History == "" {
		f, err := os.CreateTemp("", "dynalock-once-*.jsonl")
		if err != nil {
			return nil, fmt.Errorf("once: %w", err)
		}
		cfg.History = f.Name()
		f.Close()
		os.Remove(cfg.History)
	}
	rec, err := createHistory(cfg.History)
	if err != nil {
		return nil, err
	}
	if cfg.Endpoint == "" {
		srv, err := dynamotest.Start(ctx)
		if err != nil {
			return nil, errors.Join(err, rec.close())
		}
		defer srv.Stop()
		cfg.Endpoint = srv.Endpoint
	}
	db := dynamotest.NewClient(cfg.Endpoint)
	suffix := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	d := &driver{cfg: cfg, db: db, rec: rec, lockTable: "once-locks-" + suffix, appTable: "once-app-" + suffix,
		workers: map[int]*proc{}, inflight: map[int]*sent{}, nextID: 1, txns: map[string]Line{}, killed: map[int]bool{}}
	runErr := d.run(ctx, started)
	if err := errors.Join(runErr, rec.close()); err != nil {
		return nil, err
	}
	h, err := Load(cfg.History)
	if err != nil {
		return nil, err
	}
	r := Check(h)
	r.History, r.Elapsed = cfg.History, time.Since(started)
	return r, nil
}

// run runs the proof and records its history.
func (d *driver) run(ctx context.Context, started time.Time) error {
	cfg := d.cfg
	if err := admin.CreateTable(ctx, d.db, d.lockTable); err != nil {
		return err
	}
	if _, err := d.db.CreateTable(ctx, appdata.CreateTableInput(d.appTable)); err != nil {
		return fmt.Errorf("once: %w", err)
	}
	d.rec.record(Line{Kind: LineRun, Time: started.UnixNano(), Run: &RunInfo{
		Events: cfg.Events, Paths: cfg.Paths, Namespace: namespace, Scope: functionName, OddKeys: cfg.OddKeys, NULPairs: cfg.NULPairs, Unsafe: cfg.Unsafe,
		CompletionExpiryMs: cfg.CompletionExpiry.Milliseconds(),
		TimeoutMs:          cfg.Timeout.Milliseconds(), ReserveMs: cfg.Reserve.Milliseconds(), GraceMs: cfg.Grace.Milliseconds(),
		ToleranceMs: cfg.Tolerance.Milliseconds(), ExtendRate: cfg.ExtendRate, LostCompletionRate: cfg.LostCompletionRate,
		LockTable: d.lockTable, AppTable: d.appTable, Start: started.UnixNano()}})
	copies, err := d.plan(ctx)
	if err != nil {
		return err
	}
	if err := d.warmUp(ctx); err != nil {
		return err
	}
	for range cfg.Workers {
		if err := d.spawn(); err != nil {
			return err
		}
	}
	d.logf("%d events, %d copies, %d workers, paths %s; history %s", cfg.Events, len(copies), cfg.Workers, strings.Join(cfg.Paths, ","), cfg.History)
	runErr := d.deliverAll(ctx, copies)
	d.stopAll()
	// Every lease has ended a lease and the tolerance after the last
	// delivery's start.
	time.Sleep(cfg.lease() + 2*cfg.Tolerance)
	if err := d.observe(context.WithoutCancel(ctx)); err != nil {
		return errors.Join(runErr, err)
	}
	d.rec.record(Line{Kind: LineEnd})
	return runErr
}

type driver struct {
	cfg                 Config
	db                  *dynamodb.Client
	rec                 *recorder
	lockTable, appTable string

	mu       sync.Mutex // protects the fields below
	nextN    int
	nextID   int
	workers  map[int]*proc
	inflight map[int]*sent   // by delivery number
	txns     map[string]Line // the transactions noted, by nonce
	killed   map[int]bool    // the deliveries whose handler asked for a kill
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
	locks, err := lock.NewClient(ctx, lock.Config{TableName: d.lockTable, DynamoDB: d.db, ClockSkewTolerance: d.cfg.Tolerance})
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
		if err := cl.Lease.Complete(ctx, nil, item); err != nil {
			return fmt.Errorf("once: warm-up: %w", err)
		}
	}
	return nil
}

// oddAccounts are the accounts of a run with odd keys: "/", "#",
// non-ASCII, and four that differ only by where a NUL sits.
var oddAccounts = []string{"0", "acct/1", "acct#2", "ünï-3", "日本/4#", "n\x00ul", "nu\x00l", "nul\x00", "\x00nul", "🙂/9", "a/b#c/10", "11"}

func (c Config) account(i int) string {
	if c.OddKeys && i < len(oddAccounts) {
		return oddAccounts[i]
	}
	return strconv.Itoa(i)
}

// oddKeys are the idempotency keys of every fifth event of a run with odd
// keys, made from its ID.
var oddKeys = []func(id string) []string{
	func(id string) []string { return []string{id + "/x#y"} },
	func(id string) []string { return []string{"é" + id + "日本🙂"} },
	func(id string) []string { return []string{id, "part/2#"} },
	func(id string) []string { return []string{id + "\x00"} },
	func(id string) []string { return []string{"\x00" + id} },
	func(id string) []string { return []string{id, "\x00", "#/"} },
}

// nulPairs are the keys of the pairs of events (every 30th event and the
// next) whose keys differ only by where a NUL sits, and whether the second
// carries the same account and amount as the first. Should the two share a
// claim, the middleware's payload check (the whole event, or the SQS body
// or HTTP request, which name the event's ID and keys) refuses the second
// with lock.ErrPayloadMismatch: lost-event and balance report it.
var nulPairs = []struct {
	a, b func(base string) []string
	same bool
}{
	{func(b string) []string { return []string{b + "\x00", "t"} }, func(b string) []string { return []string{b, "\x00t"} }, true},
	{func(b string) []string { return []string{b + "\x00t"} }, func(b string) []string { return []string{b, "t"} }, true},
	{func(b string) []string { return []string{b + "\x00", "t"} }, func(b string) []string { return []string{b, "\x00t"} }, false},
}

// plan makes the events and their copies, records them, and opens their
// accounts.
func (d *driver) plan(ctx context.Context) ([]*copyOf, error) {
	c := d.cfg
	for a := range c.Accounts {
		if _, err := d.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &d.appTable, Item: map[string]types.AttributeValue{
			appdata.PartitionKey: appdata.S(accountID(c.account(a))), "Balance": appdata.N(0)}}); err != nil {
			return nil, fmt.Errorf("once: %w", err)
		}
	}
	evs := make([]Event, c.Events)
	pair := map[int]int{}
	for i := range evs {
		id := fmt.Sprintf("e-%05d", i)
		evs[i] = Event{ID: id, Account: c.account(rand.N(c.Accounts)), Amount: 1 + rand.Int64N(100), Keys: []string{id}}
		if c.OddKeys && i%5 == 0 {
			evs[i].Keys = oddKeys[(i/5)%len(oddKeys)](id)
		}
	}
	for i := 10; c.NULPairs && i+1 < len(evs); i += 30 {
		p := nulPairs[(i/30)%len(nulPairs)]
		base := fmt.Sprintf("p-%05d", i)
		evs[i].Keys, evs[i+1].Keys = p.a(base), p.b(base)
		if p.same {
			evs[i+1].Account, evs[i+1].Amount = evs[i].Account, evs[i].Amount
		}
		pair[i], pair[i+1] = i+1, i
	}
	if c.Unsafe == UnsafeShared {
		// The events 2k and 2k+1 share one key (pairOf) and one payload:
		// the second gets the first's account and amount (payloadOf), and
		// below its path.
		for i := 1; i < len(evs); i += 2 {
			evs[i].Account, evs[i].Amount = evs[i-1].Account, evs[i-1].Amount
		}
	}
	// Kills are spread evenly (a KillRate share of the events), their
	// points alternating, so that a short run has both.
	period, kills := 0, 0
	if c.KillRate > 0 {
		period = max(1, int(math.Round(1/c.KillRate)))
	}
	var copies []*copyOf
	var path string
	for i, ev := range evs {
		if c.Unsafe != UnsafeShared || i%2 == 0 {
			path = c.Paths[rand.N(len(c.Paths))]
		} // else the pair's path: one trigger, one payload
		first := &copyOf{event: ev, kind: kindFirst, path: path}
		if period > 0 && i%period == period/2 {
			first.kill = []string{KillBefore, KillAfter}[kills%2]
			kills++
		}
		cps := []*copyOf{first}
		for range rand.N(c.MaxCopies) {
			kind := kindAfter
			switch x := rand.Float64(); {
			case first.kill != "":
				// A copy sent before the first is acknowledged could
				// complete the event first, and the kill would not happen.
			case x < c.ConcurrentRate:
				kind = kindConcurrent
			case x < c.ConcurrentRate+c.LostRate:
				kind = kindLost
			}
			cps = append(cps, &copyOf{event: ev, kind: kind, path: path, index: len(cps)})
		}
		l := Line{Kind: LineEvent, Event: ev.ID, Account: ev.Account, Amount: ev.Amount, Keys: ev.Keys, Hex: hexKeys(ev.Keys),
			Path: path, Kill: first.kill}
		for _, cp := range cps {
			l.Copies = append(l.Copies, cp.kind)
		}
		if j, ok := pair[i]; ok {
			l.Pair = evs[j].ID
		}
		d.rec.record(l)
		copies = append(copies, cps...)
	}
	return copies, nil
}

// claimOf is the claim ID the middleware derives for ev in this run, for
// the workers' function name (AWS_LAMBDA_FUNCTION_NAME, its scope).
func (d *driver) claimOf(ev Event) string {
	return admin.ClaimID(namespace, functionName, payloadOf(d.cfg.Unsafe, ev).Keys...)
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
// MaxAttempts, or MismatchAttempts refusals with ErrPayloadMismatch),
// redelivering after each failure as SQS or Lambda would. The first
// copy's kill point, if any, goes with its deliveries until one runs the
// handler: the kind "lost answer" has the first's answer ignored, as its
// copy is sent while the first still runs.
func (d *driver) deliverCopy(ctx context.Context, cp *copyOf) error {
	mismatches, killed := 0, false
	for attempt := range d.cfg.MaxAttempts {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s := &sent{copy: cp, attempt: attempt, d: delivery{Event: cp.event, Path: cp.path, Timeout: d.cfg.Timeout}}
		if !killed {
			s.d.Kill = cp.kill
		}
		done := d.send(s)
		<-done
		cp.attempts = append(cp.attempts, s)
		// The kill goes with the copy's deliveries until one reaches the
		// kill point in the handler (and dies there): not one that failed
		// before it, nor one ended by another delivery's kill.
		killed = killed || d.killedIn(s.d.N)
		if s.answer != nil && s.answer.Err == "" {
			return nil
		}
		if s.answer != nil && s.answer.Mismatch {
			if mismatches++; mismatches >= d.cfg.MismatchAttempts {
				return nil // as a queue's dead-letter queue would take it; the check judges it
			}
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
		ev := s.d.Event
		d.rec.record(Line{Kind: LineDelivery, Time: s.at.UnixNano(), N: s.d.N, Event: ev.ID, Copy: s.copy.index, CopyOf: s.copy.kind,
			Attempt: s.attempt, Worker: p.id, Path: s.d.Path, Keys: ev.Keys, Hex: hexKeys(ev.Keys), Claim: d.claimOf(ev), Kill: s.d.Kill})
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
	d.mu.Unlock()
	if s == nil {
		return
	}
	s.answer, s.done, s.killedAt = a, time.Now(), killedAt
	if a != nil {
		l := Line{Kind: LineAnswer, Time: s.done.UnixNano(), N: n, Event: s.d.Event.ID, Worker: p.id, Res: a.Res, Ran: a.Ran, Out: a.Out,
			Err: a.Err, Held: a.Held, NoResult: a.NoResult, Mismatch: a.Mismatch, Replayed: a.Replayed, Deadline: a.Deadline.UnixNano(), Requests: a.Requests, Faults: a.Faults}
		if !a.HeldUntil.IsZero() {
			l.Until, l.HeldAt = a.HeldUntil.UnixNano(), a.HeldAt.UnixNano()
		}
		d.rec.record(l)
	}
	close(s.ended)
}

// spawn starts a worker process.
func (d *driver) spawn() error {
	d.mu.Lock()
	id := d.nextID
	d.nextID++
	d.mu.Unlock()
	wc := workerConfig{ID: id, Endpoint: d.cfg.Endpoint, LockTable: d.lockTable, AppTable: d.appTable,
		Reserve: d.cfg.Reserve, Grace: d.cfg.Grace, Tolerance: d.cfg.Tolerance, Wait: rand.N(2) == 0,
		FaultRate: d.cfg.FaultRate, DelayRate: d.cfg.DelayRate, LateRate: d.cfg.LateRate, MaxDelay: d.cfg.MaxDelay, LateMax: d.cfg.LateMax,
		ExtendRate: d.cfg.ExtendRate, LostCompletionRate: d.cfg.LostCompletionRate, Unsafe: d.cfg.Unsafe, CompletionExpiry: d.cfg.CompletionExpiry}
	b, _ := json.Marshal(wc)
	cmd := d.cfg.Command()
	// The function's name scopes the middleware's claims (and is all the
	// scope is): every worker is one function, as the Lambda functions
	// of one trigger are.
	cmd.Env = append(os.Environ(), EnvWorker+"="+string(b), "AWS_LAMBDA_FUNCTION_NAME="+functionName)
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

// read relays p's answers, notes and kill requests, then reaps it: its
// deliveries still pending end without an answer.
func (d *driver) read(p *proc, stdout io.Reader, wait func()) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var killedAt time.Time
	for sc.Scan() {
		line := sc.Text()
		if req, ok := strings.CutPrefix(line, killLine); ok {
			// What the worker wrote before it died is read on: notes of
			// transactions sent, answers given.
			if killedAt.IsZero() {
				killedAt = time.Now()
				_ = p.process.Signal(syscall.SIGKILL)
			}
			d.kill(p, req, killedAt)
			continue
		}
		var m message
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			d.logf("worker %d: %v: %q", p.id, err, line)
			continue
		}
		switch {
		case m.Note != nil:
			if m.Note.Kind == LineTxn {
				d.mu.Lock()
				d.txns[m.Note.Nonce] = *m.Note
				d.mu.Unlock()
			}
			d.rec.record(*m.Note)
		case m.Answer != nil:
			a := m.Answer
			if a.Err != "" && d.failures.Add(1) <= 5 {
				d.logf("worker %d: delivery %d failed: %s", p.id, a.N, a.Err)
			}
			d.finish(p, a.N, a, time.Time{})
		}
	}
	_, _ = io.Copy(io.Discard, stdout) // after a scan error: let the worker end
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

// kill records the SIGKILL of p, which req ("N point") asked for.
func (d *driver) kill(p *proc, req string, at time.Time) {
	var n int
	var point string
	fmt.Sscan(req, &n, &point)
	d.mu.Lock()
	d.killed[n] = true
	l := Line{Kind: LineKill, Time: at.UnixNano(), Worker: p.id, N: n, Kill: point}
	if s := p.pending[n]; s != nil {
		l.Event = s.d.Event.ID
	}
	for m := range p.pending {
		l.Inflight = append(l.Inflight, m)
	}
	d.mu.Unlock()
	slices.Sort(l.Inflight)
	d.rec.record(l)
	d.logf("worker %d SIGKILLed mid-handler of delivery %d (%s its write), %d deliveries in flight", p.id, n, point, len(l.Inflight))
}

// killedIn reports whether delivery n's handler asked for its kill.
func (d *driver) killedIn(n int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.killed[n]
}

// observe records the tables' final state: every effect item with the
// transactions that wrote it, every account's balance, every claim's and
// lock's record.
func (d *driver) observe(ctx context.Context) error {
	d.mu.Lock()
	txns := maps.Clone(d.txns)
	d.mu.Unlock()
	p := dynamodb.NewScanPaginator(d.db, &dynamodb.ScanInput{TableName: aws.String(d.appTable), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("once: scan: %w", err)
		}
		for _, it := range page.Items {
			item := &appdata.Decoder{Item: it}
			id := item.String(appdata.PartitionKey)
			if ev, ok := strings.CutPrefix(id, "effect#"); ok {
				l := Line{Kind: LineEffect, Event: ev, Count: item.Int("Count")}
				if ws, ok := it["Writes"].(*types.AttributeValueMemberL); ok {
					for _, v := range ws.Value {
						m, _ := v.(*types.AttributeValueMemberM)
						if m == nil {
							continue
						}
						wd := &appdata.Decoder{Item: m.Value}
						w := Write{Nonce: wd.String("nonce"), N: int(wd.Int("n")), Worker: int(wd.Int("w"))}
						if t, ok := txns[w.Nonce]; ok {
							w.Claim, w.Lease = t.Claim, t.Lease
						}
						l.Writes = append(l.Writes, w)
					}
				}
				d.rec.record(l)
			} else if acct, ok := strings.CutPrefix(id, "account#"); ok {
				d.rec.record(Line{Kind: LineBalance, Account: acct, Balance: item.Int("Balance")})
			}
		}
	}
	now := time.Now()
	p = dynamodb.NewScanPaginator(d.db, &dynamodb.ScanInput{TableName: aws.String(d.lockTable), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("once: scan: %w", err)
		}
		for _, it := range page.Items {
			r, err := admin.Parse(it)
			if err != nil {
				return err
			}
			l := Line{Kind: LineLock, Time: now.UnixNano(), Lock: r.LockID, Lease: r.LeaseID, Released: r.Released,
				Expires: r.ExpiresAt.UnixMilli(), HeldNow: r.Held(now)}
			if isClaim(r.LockID) {
				l.Kind, l.Lock, l.Claim = LineStored, "", r.LockID
				l.CompletedLease, l.Payload = r.CompletedLease, r.PayloadHash
				if r.Result != nil {
					l.Result = strp(string(r.Result))
				}
				if !r.CompletedAt.IsZero() {
					l.CompletedAt, l.DoneUntil = r.CompletedAt.UnixMilli(), r.DoneUntil.UnixMilli()
				}
				if !r.CleanupAt.IsZero() {
					l.Cleanup = r.CleanupAt.UnixMilli()
				}
			}
			d.rec.record(l)
		}
	}
	return nil
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
