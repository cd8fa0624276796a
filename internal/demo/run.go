package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/examples/shop/rollup"
	"github.com/dynalock/dynalock/examples/shop/stock"
)

// Config sizes the demo. Zero fields take the defaults in parentheses.
type Config struct {
	// BinDir holds the emulator and the functions' bootstraps
	// (build/local).
	BinDir string
	// EventsDir holds the sample events (events).
	EventsDir string
	// LogDir receives the functions' output (.demo/logs).
	LogDir string
	// Instances is the number of emulators per function (4).
	Instances int
	// Copies is how many copies of each sample event are sent (8).
	Copies int
	// Rounds is how many times the scheduled event is fired at every
	// nightly-rollup emulator at once (3).
	Rounds int
	// WorkDelay is reserve-stock's and account-events' simulated work
	// between read and write (20ms).
	WorkDelay time.Duration
	// RollupWorkDelay is nightly-rollup's (300ms).
	RollupWorkDelay time.Duration
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
}

func (c *Config) defaults() {
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	set(&c.BinDir, "build/local")
	set(&c.EventsDir, "events")
	set(&c.LogDir, ".demo/logs")
	for _, p := range []struct {
		v   *int
		def int
	}{{&c.Instances, 4}, {&c.Copies, 8}, {&c.Rounds, 3}} {
		if *p.v <= 0 {
			*p.v = p.def
		}
	}
	if c.WorkDelay <= 0 {
		c.WorkDelay = 20 * time.Millisecond
	}
	if c.RollupWorkDelay <= 0 {
		c.RollupWorkDelay = 300 * time.Millisecond
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// Load is the events one phase sends, and what they must leave behind.
type Load struct {
	Batches  []events.SQSEvent
	Accounts []events.EventBridgeEvent
	Schedule []events.EventBridgeEvent // fired len(Schedule) at once, per round
	Rounds   int
	// Transfers are account-transfers requests, sent at once alongside the
	// account events (both lock account/<id>).
	Transfers []events.APIGatewayV2HTTPRequest
}

// NewLoad makes copies copies of each sample batch, three times as many of
// each account event (one account takes them all), and instances copies of
// the scheduled event.
func NewLoad(s *Samples, copies, instances, rounds int) (*Load, error) {
	l := &Load{Rounds: rounds}
	for c := 1; c <= copies; c++ {
		for _, b := range s.SQS {
			cp, err := CopySQS(b, c)
			if err != nil {
				return nil, err
			}
			l.Batches = append(l.Batches, cp)
		}
	}
	for c := 1; c <= 3*copies; c++ {
		for _, e := range s.Accounts {
			cp, err := CopyEvent(e, c)
			if err != nil {
				return nil, err
			}
			l.Accounts = append(l.Accounts, cp)
		}
	}
	for c := 1; c <= 3*copies; c++ {
		for _, r := range s.Transfers {
			cp, err := CopyTransfer(r, c)
			if err != nil {
				return nil, err
			}
			l.Transfers = append(l.Transfers, cp)
		}
	}
	for i := 1; i <= instances; i++ {
		cp, err := CopyEvent(s.Schedule, i)
		if err != nil {
			return nil, err
		}
		l.Schedule = append(l.Schedule, cp)
	}
	return l, nil
}

// Ledger returns a ledger of the load's orders and transactions.
func (l *Load) Ledger() (*Ledger, error) {
	led := NewLedger()
	for _, b := range l.Batches {
		if err := led.AddSQS(b); err != nil {
			return nil, err
		}
	}
	for _, e := range l.Accounts {
		if err := led.AddEvent(e); err != nil {
			return nil, err
		}
	}
	for _, r := range l.Transfers {
		if err := led.AddTransfer(r); err != nil {
			return nil, err
		}
	}
	return led, nil
}

// Records returns the number of SQS records in the load.
func (l *Load) Records() (n int) {
	for _, b := range l.Batches {
		n += len(b.Records)
	}
	return n
}

// Phase is one run of a load against the three functions.
type Phase struct {
	// Locked is false for the run with DYNALOCK_DISABLED=true.
	Locked bool
	// AppTable is the phase's own application table.
	AppTable string
	// Stock and Accounts are what became of reserve-stock's and
	// account-events' loads.
	Stock     SQSResult
	Accounts  AsyncResult
	Transfers HTTPResult
	// Rollup's runs: those that ran, were skipped, or found an overlap.
	RollupRan, RollupSkipped, RollupOverlapped, RollupFailed int
	// Final is a last nightly-rollup run, alone, after the load.
	Final rollup.Summary
	// Metrics are the functions' EMF sums, by function name.
	Metrics map[string]MetricCounts
	// State is the application table compared with the ledger.
	State State
	// Duration is the phase's wall time.
	Duration time.Duration
}

// MetricCounts is a snapshot of Metrics; the fields are its counters'.
type MetricCounts struct {
	Contended, Skipped, FailedRecords, ReleaseFailures int64
}

// Apps are the stores of one application table.
type Apps struct {
	Stock    *stock.Store
	Accounts *accounts.Store
	Rollup   *rollup.Job
}

// AppsOf returns the stores of the application table named table.
func (s *Stack) AppsOf(table string) Apps {
	db := s.Client()
	return Apps{
		Stock:    &stock.Store{DB: db, Table: table},
		Accounts: &accounts.Store{DB: db, Table: table},
		Rollup:   &rollup.Job{DB: db, Table: table},
	}
}

// Functions are the functions of one phase.
type Functions struct {
	Stock, Accounts, Rollup, Transfers *Function
}

// StartFunctions starts n emulators of each function against appTable,
// with locking disabled when locked is false.
func (s *Stack) StartFunctions(ctx context.Context, appTable string, n int, locked bool, work, rollupWork time.Duration) (*Functions, error) {
	env := func(d time.Duration) map[string]string {
		return map[string]string{"WORK_DELAY": d.String(), "DYNALOCK_DISABLED": fmt.Sprint(!locked)}
	}
	var fs Functions
	var err error
	if fs.Stock, err = s.Start(ctx, ReserveStock, appTable, n, env(work)); err != nil {
		return nil, err
	}
	if fs.Accounts, err = s.Start(ctx, AccountEvents, appTable, n, env(work)); err != nil {
		return nil, err
	}
	if fs.Rollup, err = s.Start(ctx, NightlyRollup, appTable, n, env(rollupWork)); err != nil {
		return nil, err
	}
	if fs.Transfers, err = s.Start(ctx, AccountTransfers, appTable, n, env(work)); err != nil {
		return nil, err
	}
	return &fs, nil
}

// Stop stops the functions, so that their metrics are complete, and
// returns the metrics.
func (fs *Functions) Stop() map[string]MetricCounts {
	out := map[string]MetricCounts{}
	for _, f := range []*Function{fs.Stock, fs.Accounts, fs.Rollup, fs.Transfers} {
		f.Stop()
		m := f.Metrics()
		out[f.Name] = MetricCounts{m.Contended.Load(), m.Skipped.Load(), m.FailedRecords.Load(), m.ReleaseFailures.Load()}
	}
	return out
}

// RunLoad sends the load to the functions: the SQS batches, then the
// account events, then the scheduled rounds, then (locked or not) one
// rollup run alone.
func RunLoad(ctx context.Context, fs *Functions, l *Load, p *Phase, progress func(string, ...any)) error {
	var err error
	progress("reserve-stock: %d orders in %d SQS batches, %d environments", l.Records(), len(l.Batches), len(fs.Stock.Instances()))
	p.Stock, err = DeliverSQS(ctx, fs.Stock, l.Batches, StackQueue())
	if err != nil {
		return err
	}
	progress("reserve-stock: done: %d invocations, %d records redelivered", p.Stock.Invocations, p.Stock.Redelivered)
	progress("account-events: %d events at once, and account-transfers: %d HTTP requests at once, on the same account", len(l.Accounts), len(l.Transfers))
	var httpErr error
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		p.Transfers, httpErr = SendHTTP(ctx, fs.Transfers, l.Transfers, 20)
	}()
	p.Accounts, err = FireEvents(ctx, fs.Accounts, l.Accounts, 2, 200*time.Millisecond)
	<-sent
	if err = errors.Join(err, httpErr); err != nil {
		return err
	}
	progress("account-events: done: %d invocations, %d retried", p.Accounts.Invocations, p.Accounts.Retried)
	progress("account-transfers: done: %d attempts, %d answered 409 Conflict", p.Transfers.Invocations, p.Transfers.Conflicts)
	progress("nightly-rollup: %d rounds of %d runs at once", l.Rounds, len(l.Schedule))
	for range l.Rounds {
		res, err := FireEvents(ctx, fs.Rollup, l.Schedule, 0, 0)
		if err != nil {
			return err
		}
		for _, out := range res.Outputs {
			if out == nil {
				continue
			}
			var sum rollup.Summary
			if err := json.Unmarshal(out, &sum); err != nil {
				return fmt.Errorf("demo: nightly-rollup output %s: %w", out, err)
			}
			if sum.RunID == "" {
				p.RollupSkipped++
			} else {
				p.RollupRan++
			}
		}
		for _, e := range res.Errors {
			if strings.Contains(e, rollup.ErrOverlap.Error()) {
				p.RollupOverlapped++
			} else {
				p.RollupFailed++
			}
		}
	}
	progress("nightly-rollup: done: %d ran, %d skipped, %d overlapped", p.RollupRan, p.RollupSkipped, p.RollupOverlapped)
	last, err := json.Marshal(l.Schedule[0])
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	resp, err := fs.Rollup.Invoke(ctx, last)
	if err != nil {
		return err
	}
	if resp.Err != nil {
		return fmt.Errorf("demo: the last nightly-rollup run failed: %w", resp.Err)
	}
	if err := json.Unmarshal(resp.Payload, &p.Final); err != nil {
		return fmt.Errorf("demo: nightly-rollup output %s: %w", resp.Payload, err)
	}
	return nil
}

// Run runs the whole demo: the load with locking, low-stock-alerts fed the
// application table's stream meanwhile, a crash, the load again without
// locking; and returns the report. An error means the demo could
// not run; failed checks are in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	start := time.Now()
	progress := func(format string, args ...any) {
		fmt.Fprintf(cfg.Progress, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	samples, err := LoadSamples(cfg.EventsDir)
	if err != nil {
		return nil, err
	}
	if err := CheckBinaries(cfg.BinDir); err != nil {
		return nil, err
	}
	progress("starting DynamoDB Local")
	s, err := NewStack(ctx, StackConfig{BinDir: cfg.BinDir, LogDir: cfg.LogDir})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	progress("DynamoDB Local at %s; lock table %s created", s.DB.Endpoint, s.LockTable)
	r := &Report{Endpoint: s.DB.Endpoint, LogDir: cfg.LogDir, Instances: cfg.Instances}

	// With locking.
	load, err := NewLoad(samples, cfg.Copies, cfg.Instances, cfg.Rounds)
	if err != nil {
		return nil, err
	}
	progress("== with locking ==")
	locked := &Phase{Locked: true, AppTable: s.LockTable + "-app"}
	ledger, err := load.Ledger()
	if err != nil {
		return nil, err
	}
	fs, err := s.preparePhase(ctx, locked, ledger, cfg, progress)
	if err != nil {
		return nil, err
	}
	// low-stock-alerts reads the table's stream all through the phase,
	// from the seeding on, and contends with reserve-stock for sku/<sku>.
	alerts, err := s.StartAlerts(ctx, locked.AppTable)
	if err != nil {
		return nil, err
	}
	defer alerts.cancel()
	progress("low-stock-alerts: the app table's DynamoDB stream, SKU items only, up to %d records a batch, as Lambda's poller; threshold %d", StreamBatchSize, AlertThreshold)
	phaseStart := time.Now()
	if err := RunLoad(ctx, fs, load, locked, progress); err != nil {
		return nil, err
	}
	// A crash: one more reserve-stock environment, whose handler works a
	// minute, is killed holding a SKU's lock.
	first := load.Batches[0].Records[0]
	o, err := stock.ParseOrder(first.Body)
	if err != nil {
		return nil, err
	}
	crashMsg := first
	crashMsg.MessageId = "crash-msg-1"
	crashMsg.Body = fmt.Sprintf(`{"orderId":"crash-1","sku":%q,"quantity":1}`, o.SKU)
	crashMsg.Attributes = map[string]string{"ApproximateReceiveCount": "1"}
	if err := ledger.AddSQS(events.SQSEvent{Records: []events.SQSMessage{crashMsg}}); err != nil {
		return nil, err
	}
	victim, err := s.Start(ctx, ReserveStock, locked.AppTable, 1, map[string]string{"WORK_DELAY": "1m"})
	if err != nil {
		return nil, err
	}
	lockID := stock.LockNamespace + "/" + o.SKU
	progress("crash: reserve-stock takes %s, then is killed with SIGKILL mid-handler; its order is redelivered every 100ms", lockID)
	r.Crash, err = Crash(ctx, s, victim.Instances()[0], fs.Stock, crashMsg, lockID, 100*time.Millisecond)
	if err != nil {
		return nil, err
	}
	progress("crash: the lock freed itself %.1fs after the kill", r.Crash.FreedAfter.Seconds())
	victim.Stop()
	if r.Alerts, err = alerts.Finish(ctx); err != nil {
		return nil, err
	}
	st := r.Alerts.Stream
	progress("low-stock-alerts: done: %d stream records (%d of other items filtered out), %d invocations, %d redeliveries from a failed record (at most %d of one)",
		st.Records, st.Filtered, st.Invocations, st.Retried, st.MaxRetries)
	locked.Metrics = fs.Stop()
	locked.Metrics[LowStockAlerts] = r.Alerts.Metrics
	locked.Duration = time.Since(phaseStart)
	apps := s.AppsOf(locked.AppTable)
	if locked.State, err = ledger.Compare(ctx, apps.Stock, apps.Accounts, apps.Rollup); err != nil {
		return nil, err
	}
	if r.Held, err = s.HeldLocks(ctx, time.Now()); err != nil {
		return nil, err
	}
	r.Locked = locked

	// The SQS load again, locked, without the visibility backoff.
	progress("== reserve-stock without the visibility backoff: held records wait out the %s visibility timeout ==", StackQueue().Visibility)
	if r.Backoff, err = s.RunWithoutBackoff(ctx, s.LockTable+"-app-no-backoff", load.Batches, cfg.Instances, cfg.WorkDelay, StackQueue()); err != nil {
		return nil, err
	}
	progress("reserve-stock without backoff: done in %.1fs: %d invocations, %d records redelivered", r.Backoff.Duration.Seconds(), r.Backoff.Without.Invocations, r.Backoff.Without.Redelivered)

	// Without locking: the same load, a fresh application table.
	progress("== without locking (DYNALOCK_DISABLED=true) ==")
	unlocked := &Phase{AppTable: s.LockTable + "-app-unlocked"}
	if ledger, err = load.Ledger(); err != nil {
		return nil, err
	}
	if fs, err = s.preparePhase(ctx, unlocked, ledger, cfg, progress); err != nil {
		return nil, err
	}
	phaseStart = time.Now()
	if err := RunLoad(ctx, fs, load, unlocked, progress); err != nil {
		return nil, err
	}
	unlocked.Metrics = fs.Stop()
	unlocked.Duration = time.Since(phaseStart)
	apps = s.AppsOf(unlocked.AppTable)
	if unlocked.State, err = ledger.Compare(ctx, apps.Stock, apps.Accounts, apps.Rollup); err != nil {
		return nil, err
	}
	r.Unlocked = unlocked

	// Duplicates: orders and account events of their own delivered
	// several times, with idempotency and without it.
	for _, idem := range []bool{true, false} {
		progress("== duplicates: the same orders and account events delivered 2-3 times (idempotency %v) ==", idem)
		dup, err := s.RunDuplicates(ctx, samples, fmt.Sprintf("%s-app-dup-%v", s.LockTable, idem), cfg.Instances, cfg.WorkDelay, idem)
		if err != nil {
			return nil, err
		}
		progress("duplicates (idempotency %v): %d orders in %d deliveries, %d events in %d deliveries", idem, dup.Orders, dup.OrderDeliveries, dup.Events, dup.EventDeliveries)
		if idem {
			r.Duplicates = dup
		} else {
			r.DuplicatesOff = dup
		}
	}
	r.Elapsed = time.Since(start)
	r.check()
	return r, nil
}

// preparePhase creates the phase's application table, seeds it and starts
// the functions.
func (s *Stack) preparePhase(ctx context.Context, p *Phase, l *Ledger, cfg Config, progress func(string, ...any)) (*Functions, error) {
	if err := s.CreateAppTable(ctx, p.AppTable); err != nil {
		return nil, err
	}
	apps := s.AppsOf(p.AppTable)
	if err := l.Seed(ctx, apps.Stock, apps.Accounts); err != nil {
		return nil, err
	}
	fs, err := s.StartFunctions(ctx, p.AppTable, cfg.Instances, p.Locked, cfg.WorkDelay, cfg.RollupWorkDelay)
	if err != nil {
		return nil, err
	}
	progress("app table %s seeded: %d SKUs, %d accounts; %d emulators per function started", p.AppTable, len(l.Orders), len(l.Transactions), cfg.Instances)
	return fs, nil
}

// tolerance is the lock's clock-skew tolerance the functions run with:
// lock.Config's default (a test checks that it is).
const tolerance = time.Second
