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

// Config sizes the demo. Zero fields take the defaults in parentheses:
// the quick run's, or with Full the long run's.
type Config struct {
	// Full runs the long scenario set: a load of eight copies of each
	// sample event and three rounds of scheduled runs, several minutes.
	Full bool
	// BinDir holds the emulator and the functions' bootstraps
	// (build/local).
	BinDir string
	// EventsDir holds the sample events (events).
	EventsDir string
	// LogDir receives the functions' output (.demo/logs).
	LogDir string
	// Instances is the number of emulators per function (4).
	Instances int
	// Copies is how many copies of each sample event are sent (2; full 8).
	Copies int
	// Rounds is how many times the scheduled event is fired at every
	// nightly-rollup emulator at once (1; full 3).
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
	copies, rounds := 2, 1
	if c.Full {
		copies, rounds = 8, 3
	}
	for _, p := range []struct {
		v   *int
		def int
	}{{&c.Instances, 4}, {&c.Copies, copies}, {&c.Rounds, rounds}} {
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
	if err := RunSQS(ctx, fs, l, p, progress); err != nil {
		return err
	}
	return RunEvents(ctx, fs, l, p, progress)
}

// RunSQS sends the load's SQS batches to reserve-stock, as RunLoad does
// first.
func RunSQS(ctx context.Context, fs *Functions, l *Load, p *Phase, progress func(string, ...any)) error {
	var err error
	progress("reserve-stock: %d orders in %d SQS batches, %d environments", l.Records(), len(l.Batches), len(fs.Stock.Instances()))
	p.Stock, err = DeliverSQS(ctx, fs.Stock, l.Batches, StackQueue())
	if err != nil {
		return err
	}
	progress("reserve-stock: done: %d invocations, %d records redelivered", p.Stock.Invocations, p.Stock.Redelivered)
	return nil
}

// RunEvents sends the rest of the load, as RunLoad does after RunSQS: the
// account events and transfers at once, then the scheduled rounds, then
// one rollup run alone.
func RunEvents(ctx context.Context, fs *Functions, l *Load, p *Phase, progress func(string, ...any)) error {
	var err error
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
