package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/examples/shop/stock"
	"github.com/dynalock/dynalock/lock"
)

// heldFor is how long RunBackoffPair holds the SKU's lock: the lease of
// another holder that will not release it.
const heldFor = 3 * time.Second

// hold takes the lock id with holder. On a machine so busy that an answer
// came after the short lease it asked for had ended, it asks again, a few
// times.
func hold(ctx context.Context, holder *lock.Client, id string) error {
	var err error
	for range 5 {
		if _, err = holder.Lock(id).Acquire(ctx); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("demo: hold %s: %w", id, err)
	}
	return nil
}

// RunBackoffPair shows the visibility backoff on one batch, twice side by
// side: to a reserve-stock environment with the backoff and to one
// without it (SQS_VISIBILITY_BACKOFF=false), each with its own tables and
// queue. Before each delivery the demo takes the lock of the batch's first
// SKU for heldFor, as another holder would, so that its records fail: with
// the backoff they come back once that lease has ended, without it after
// the queue's visibility timeout. One round of contention each, so the
// run lasts about one visibility timeout.
func (s *Stack) RunBackoffPair(ctx context.Context, batch events.SQSEvent, work time.Duration, q Queue) (BackoffRun, error) {
	run := BackoffRun{Queue: q, Records: len(batch.Records), Pair: true}
	first, err := stock.ParseOrder(batch.Records[0].Body)
	if err != nil {
		return run, err
	}
	run.HeldSKU = first.SKU
	type result struct {
		res   SQSResult
		state State
		dead  map[string]bool
		err   error
	}
	one := func(backoff bool) result {
		suffix := "-backoff-off"
		if backoff {
			suffix = "-backoff-on"
		}
		var r result
		batches, err := renamed([]events.SQSEvent{batch}, suffix)
		if err != nil {
			return result{err: err}
		}
		led := NewLedger()
		if err := led.AddSQS(batches[0]); err != nil {
			return result{err: err}
		}
		locks, err := s.NewLockTable(ctx, suffix[1:])
		if err != nil {
			return result{err: err}
		}
		table := s.LockTable + "-app" + suffix
		if err := s.CreateAppTable(ctx, table); err != nil {
			return result{err: err}
		}
		apps := s.AppsOf(table)
		if err := led.Seed(ctx, apps.Stock, apps.Accounts); err != nil {
			return result{err: err}
		}
		f, err := s.Start(ctx, ReserveStock, table, 1, map[string]string{"LOCK_TABLE": locks, "WORK_DELAY": work.String(), "SQS_VISIBILITY_BACKOFF": fmt.Sprint(backoff)})
		if err != nil {
			return result{err: err}
		}
		defer f.Stop()
		holder, err := lock.NewClient(ctx, lock.Config{TableName: locks, DynamoDB: s.Client(), Owner: "demo (another holder)", TTL: heldFor})
		if err != nil {
			return result{err: fmt.Errorf("demo: %w", err)}
		}
		if err := hold(ctx, holder, stock.LockNamespace+"/"+first.SKU); err != nil {
			return result{err: err}
		}
		if r.res, err = DeliverSQS(ctx, f, batches, q); err != nil {
			return result{err: err}
		}
		if r.state, err = led.Compare(ctx, apps.Stock, apps.Accounts, apps.Rollup); err != nil {
			return result{err: err}
		}
		r.dead, r.err = deadOrders(batches, r.res.DeadLettered)
		return r
	}
	started := time.Now()
	with := make(chan result, 1)
	go func() { with <- one(true) }()
	without := one(false)
	w := <-with
	run.Duration = time.Since(started)
	if w.err != nil {
		return run, w.err
	}
	if without.err != nil {
		return run, without.err
	}
	run.With, run.Without, run.WithState, run.State = w.res, without.res, w.state, without.state
	run.Dead = without.dead
	for id := range w.dead {
		run.Dead[id] = true
	}
	return run, nil
}
