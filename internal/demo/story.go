package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/examples/shop/stock"
)

// Run runs the whole demo and returns its report. The scenarios, in the
// report's order:
//
//  1. with locking, the load on every function at once, low-stock-alerts
//     fed the application table's stream meanwhile;
//  2. a crash: a holder SIGKILLed mid-handler, its lock freeing itself,
//     begun once reserve-stock's part of 1 is over;
//  3. reserve-stock's SQS load without the visibility backoff, against its
//     own tables, begun with 1 (its held records wait out the visibility
//     timeout, so it runs beside the others);
//  4. the load again without locking;
//  5. duplicate deliveries with idempotency and without it, side by side,
//     begun with 4;
//  6. tenant-exports' per-tenant limit: one tenant's exports beyond its
//     permits and another tenant's, at once, begun with 3 (its held
//     records come back after a second's backoff, so it runs beside the
//     others).
//
// The scenarios that run side by side use tables and queues of their own,
// so that none sees another's locks or records.
//
// An error means the demo could not run; failed checks are in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the scenarios running beside an early return
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
	r := &Report{LogDir: cfg.LogDir, Instances: cfg.Instances, Full: cfg.Full, LoadStart: loadAverage()}
	progress("starting DynamoDB Local")
	s, err := NewStack(ctx, StackConfig{BinDir: cfg.BinDir, LogDir: cfg.LogDir})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	r.Endpoint = s.DB.Endpoint
	progress("DynamoDB Local at %s; lock table %s created", s.DB.Endpoint, s.LockTable)

	load, err := NewLoad(samples, cfg.Copies, cfg.Instances, cfg.Rounds)
	if err != nil {
		return nil, err
	}
	ledger, err := load.Ledger()
	if err != nil {
		return nil, err
	}

	// 3, begun first: without the backoff a held record waits out the
	// queue's visibility timeout, most of this scenario's time, so it
	// runs beside the others, on tables of its own. The quick run shows it
	// on one batch whose SKU the demo holds; the full run sends the whole
	// SQS load again.
	type backoffDone struct {
		run BackoffRun
		err error
	}
	backoff := make(chan backoffDone, 1)
	if cfg.Full {
		progress("3. begun beside the rest: reserve-stock without the visibility backoff, the same %d orders, its own tables; held records wait out the %s visibility timeout",
			load.Records(), StackQueue().Visibility)
	} else {
		progress("3. begun beside the rest: one batch to reserve-stock with the visibility backoff and without, side by side, its first SKU held; held records without it wait out the %s visibility timeout",
			StackQueue().Visibility)
	}
	go func() {
		var run BackoffRun
		var err error
		if cfg.Full {
			run, err = s.RunWithoutBackoff(ctx, s.LockTable+"-app-no-backoff", load.Batches, cfg.Instances, cfg.WorkDelay, StackQueue())
		} else {
			run, err = s.RunBackoffPair(ctx, standardBatch(load), cfg.WorkDelay, StackQueue())
		}
		backoff <- backoffDone{run, err}
	}()

	// 6, begun now too, on tables of its own: a per-tenant limit.
	type tenantsDone struct {
		run TenantRun
		err error
	}
	tenants := make(chan tenantsDone, 1)
	progress("6. begun beside the rest: tenant-exports, %d exports of one tenant then %d of another, %d environments, TENANT_PERMITS=%d",
		busyExports, otherExports, tenantInstances, TenantPermits)
	go func() {
		run, err := s.RunTenants(ctx, samples.Exports, TenantPermits, tenantInstances, exportWork)
		tenants <- tenantsDone{run, err}
	}()

	// 1. With locking.
	progress("1. with locking")
	locked := &Phase{Locked: true, AppTable: s.LockTable + "-app"}
	fs, err := s.preparePhase(ctx, locked, ledger, cfg, progress)
	if err != nil {
		return nil, err
	}
	// low-stock-alerts reads the table's stream all through the phase,
	// from the seeding on, and contends with reserve-stock for sku/<sku>.
	threshold := ThresholdFor(ledger)
	alerts, err := s.StartAlertsAt(ctx, locked.AppTable, threshold)
	if err != nil {
		return nil, err
	}
	defer alerts.cancel()
	progress("low-stock-alerts: the app table's DynamoDB stream, SKU items only, up to %d records a batch, as Lambda's poller; threshold %d", StreamBatchSize, threshold)
	phaseStart := time.Now()
	if err := RunSQS(ctx, fs, load, locked, progress); err != nil {
		return nil, err
	}

	// 2. A crash, beside the rest of 1 and 4: one more reserve-stock
	// environment, whose handler works a minute, is killed holding a
	// SKU's lock (reserve-stock's part of the load is over).
	crashMsg, lockID, err := crashOrder(load, ledger)
	if err != nil {
		return nil, err
	}
	victim, err := s.Start(ctx, ReserveStock, locked.AppTable, 1, map[string]string{"WORK_DELAY": "1m"})
	if err != nil {
		return nil, err
	}
	progress("2. crash: reserve-stock takes %s, then is killed with SIGKILL mid-handler; its order is redelivered every 100ms", lockID)
	type crashDone struct {
		res CrashResult
		err error
	}
	crashed := make(chan crashDone, 1)
	go func() {
		res, err := Crash(ctx, s, victim.Instances()[0], fs.Stock, crashMsg, lockID, 100*time.Millisecond)
		crashed <- crashDone{res, err}
	}()

	if err := RunEvents(ctx, fs, load, locked, progress); err != nil {
		return nil, err
	}

	// 5, begun now, beside 4: duplicates with and without idempotency,
	// side by side: orders and account events of their own delivered
	// several times, on tables of their own.
	progress("5. begun beside 4: duplicates: the same orders and account events delivered 2-3 times, with idempotency and without (DYNALOCK_IDEMPOTENCY=false), side by side")
	type dupDone struct {
		d   *Duplicates
		err error
	}
	dups := make(chan dupDone, 2)
	dupSamples := samples
	if !cfg.Full {
		dupSamples = standardOnly(samples)
	}
	for _, idem := range []bool{true, false} {
		go func() {
			d, err := s.RunDuplicates(ctx, dupSamples, fmt.Sprintf("%s-app-dup-%v", s.LockTable, idem), cfg.Instances, cfg.WorkDelay, idem)
			dups <- dupDone{d, err}
		}()
	}

	// 4. Without locking: the same load, a fresh application table.
	progress("4. without locking (DYNALOCK_DISABLED=true)")
	unlocked := &Phase{AppTable: s.LockTable + "-app-unlocked"}
	unlockedLedger, err := load.Ledger()
	if err != nil {
		return nil, err
	}
	ufs, err := s.preparePhase(ctx, unlocked, unlockedLedger, cfg, progress)
	if err != nil {
		return nil, err
	}
	uStart := time.Now()
	if err := RunLoad(ctx, ufs, load, unlocked, progress); err != nil {
		return nil, err
	}
	unlocked.Metrics = ufs.Stop()
	unlocked.Duration = time.Since(uStart)
	apps := s.AppsOf(unlocked.AppTable)
	if unlocked.State, err = unlockedLedger.Compare(ctx, apps.Stock, apps.Accounts, apps.Rollup); err != nil {
		return nil, err
	}
	r.Unlocked = unlocked

	c := <-crashed
	if c.err != nil {
		return nil, c.err
	}
	r.Crash = c.res
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
	apps = s.AppsOf(locked.AppTable)
	if locked.State, err = ledger.Compare(ctx, apps.Stock, apps.Accounts, apps.Rollup); err != nil {
		return nil, err
	}
	if r.Unprocessed, err = unprocessed(load, locked); err != nil {
		return nil, err
	}
	r.Locked = locked

	for range 2 {
		d := <-dups
		if d.err != nil {
			return nil, d.err
		}
		progress("duplicates (idempotency %v): %d orders in %d deliveries, %d events in %d deliveries", d.d.Idempotent, d.d.Orders, d.d.OrderDeliveries, d.d.Events, d.d.EventDeliveries)
		if d.d.Idempotent {
			r.Duplicates = d.d
		} else {
			r.DuplicatesOff = d.d
		}
	}

	b := <-backoff
	if b.err != nil {
		return nil, b.err
	}
	r.Backoff = b.run
	progress("3. reserve-stock without backoff: done in %.1fs: %d invocations, %d records redelivered", r.Backoff.Duration.Seconds(), r.Backoff.Without.Invocations, r.Backoff.Without.Redelivered)

	tn := <-tenants
	if tn.err != nil {
		return nil, tn.err
	}
	r.Tenants = &tn.run
	for _, st := range tn.run.Stats() {
		progress("6. tenant-exports: %s: %d of %d exports recorded, at most %d at once", st.Tenant, st.Recorded, st.Sent, st.Peak)
	}

	// Every function has stopped: what is still held is a lock whose
	// release did not go through, held until its lease ends.
	now := time.Now()
	if r.Held, err = s.HeldLocks(ctx, now); err != nil {
		return nil, err
	}
	r.HeldAt = now
	r.LoadEnd = loadAverage()
	r.Elapsed = time.Since(start)
	r.check()
	return r, nil
}

// standardOnly returns samples with the SQS batches of standard queues
// only (all of them if there is none): the quick run's duplicates, FIFO
// queues being shown in 1.
func standardOnly(samples *Samples) *Samples {
	out := *samples
	out.SQS = nil
	for _, sm := range samples.SQS {
		if len(sm.Event.Records) > 0 && !strings.HasSuffix(sm.Event.Records[0].EventSourceARN, ".fifo") {
			out.SQS = append(out.SQS, sm)
		}
	}
	if len(out.SQS) == 0 {
		out.SQS = samples.SQS
	}
	return &out
}

// standardBatch returns the load's first batch from a standard queue (the
// first batch if there is none).
func standardBatch(l *Load) events.SQSEvent {
	for _, b := range l.Batches {
		if len(b.Records) > 0 && !strings.HasSuffix(b.Records[0].EventSourceARN, ".fifo") {
			return b
		}
	}
	return l.Batches[0]
}

// crashOrder returns the crash scenario's order, on the SKU of the load's
// first order, as a one-record batch's record (added to ledger), and the
// lock it takes.
func crashOrder(load *Load, ledger *Ledger) (events.SQSMessage, string, error) {
	first := load.Batches[0].Records[0]
	o, err := stock.ParseOrder(first.Body)
	if err != nil {
		return first, "", err
	}
	msg := first
	msg.MessageId = "crash-msg-1"
	msg.Body = fmt.Sprintf(`{"orderId":"crash-1","sku":%q,"quantity":1}`, o.SKU)
	msg.Attributes = map[string]string{"ApproximateReceiveCount": "1"}
	if err := ledger.AddSQS(events.SQSEvent{Records: []events.SQSMessage{msg}}); err != nil {
		return msg, "", err
	}
	return msg, stock.LockNamespace + "/" + o.SKU, nil
}
