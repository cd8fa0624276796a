package demo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// BackoffRun is reserve-stock's SQS load run again with locking but
// without the visibility backoff (SQS_VISIBILITY_BACKOFF=false): a record
// whose SKU is held then comes back after the queue's visibility timeout.
// RunBackoffPair fills With and WithState too.
type BackoffRun struct {
	// Pair is true for RunBackoffPair: one batch, with and without the
	// backoff, its first SKU (HeldSKU) held by the demo.
	Pair    bool
	HeldSKU string
	// With and WithState are the run with the backoff, in a pair.
	With      SQSResult
	WithState State
	// Queue is the queue settings both runs had.
	Queue Queue
	// Records counts the orders sent.
	Records int
	// Without is what became of the load.
	Without SQSResult
	// State is the application table compared with the load's ledger.
	State State
	// Dead are the IDs of the orders dead-lettered.
	Dead map[string]bool
	// Duration is the run's wall time.
	Duration time.Duration
}

// RunWithoutBackoff delivers batches, as DeliverSQS does with q, to n
// fresh reserve-stock environments that lock but do not back off, against
// a fresh application table named table and a lock table of their own (so
// that it may run beside the other scenarios without their contention).
func (s *Stack) RunWithoutBackoff(ctx context.Context, table string, batches []events.SQSEvent, n int, work time.Duration, q Queue) (BackoffRun, error) {
	run := BackoffRun{Queue: q, Records: records(batches)}
	// Orders of their own: the locked phase completed the load's orders,
	// and reserve-stock acknowledges a completed order's duplicates.
	batches, err := renamed(batches, "-no-backoff")
	if err != nil {
		return run, err
	}
	led := NewLedger()
	for _, b := range batches {
		if err := led.AddSQS(b); err != nil {
			return run, err
		}
	}
	locks, err := s.NewLockTable(ctx, "no-backoff")
	if err != nil {
		return run, err
	}
	if err := s.CreateAppTable(ctx, table); err != nil {
		return run, err
	}
	apps := s.AppsOf(table)
	if err := led.Seed(ctx, apps.Stock, apps.Accounts); err != nil {
		return run, err
	}
	f, err := s.Start(ctx, ReserveStock, table, n, map[string]string{"LOCK_TABLE": locks, "WORK_DELAY": work.String(), "SQS_VISIBILITY_BACKOFF": "false"})
	if err != nil {
		return run, err
	}
	started := time.Now()
	run.Without, err = DeliverSQS(ctx, f, batches, q)
	run.Duration = time.Since(started)
	f.Stop()
	if err != nil {
		return run, err
	}
	if run.State, err = led.Compare(ctx, apps.Stock, apps.Accounts, apps.Rollup); err != nil {
		return run, err
	}
	run.Dead, err = deadOrders(batches, run.Without.DeadLettered)
	return run, err
}

// renamed returns copies of batches whose messages and orders have suffix
// appended to their IDs (and message groups, on FIFO queues), on queues of
// their own (suffix appended to the queue's name, before any ".fifo"), so
// that they may be delivered beside the originals.
func renamed(batches []events.SQSEvent, suffix string) ([]events.SQSEvent, error) {
	out := make([]events.SQSEvent, len(batches))
	for i, b := range batches {
		out[i].Records = make([]events.SQSMessage, len(b.Records))
		for j, r := range b.Records {
			body, err := withField([]byte(r.Body), "orderId", suffix)
			if err != nil {
				return nil, fmt.Errorf("demo: record %s: %w", r.MessageId, err)
			}
			r.Body, r.MessageId, r.EventSourceARN = string(body), r.MessageId+suffix, queueARN(r.EventSourceARN, suffix)
			attrs := make(map[string]string, len(r.Attributes))
			for k, v := range r.Attributes {
				attrs[k] = v
			}
			if g, ok := attrs["MessageGroupId"]; ok {
				attrs["MessageGroupId"] = g + suffix
			}
			r.Attributes = attrs
			out[i].Records[j] = r
		}
	}
	return out, nil
}

// records returns the number of records in batches.
func records(batches []events.SQSEvent) (n int) {
	for _, b := range batches {
		n += len(b.Records)
	}
	return n
}

// queueARN returns the ARN of a queue named as arn's with suffix appended,
// before the ".fifo" of a FIFO queue's name.
func queueARN(arn, suffix string) string {
	if base, ok := strings.CutSuffix(arn, ".fifo"); ok {
		return base + suffix + ".fifo"
	}
	return arn + suffix
}

// Latency summarises the end-to-end latencies of a load's records.
type Latency struct {
	P50, P99, Max time.Duration
	N             int
}

// Summarize returns the median, 99th percentile (nearest rank) and
// maximum of ds.
func Summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return Latency{P50: rank(0.50), P99: rank(0.99), Max: s[len(s)-1], N: len(s)}
}

func (l Latency) String() string {
	return fmt.Sprintf("p50 %.1fs, p99 %.1fs, max %.1fs", l.P50.Seconds(), l.P99.Seconds(), l.Max.Seconds())
}
