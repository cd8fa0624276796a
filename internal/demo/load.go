package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/internal/emulator"
)

// Queue is how DeliverSQS redelivers, standing in for an SQS queue's
// visibility timeout and redrive policy.
type Queue struct {
	// Visibility is how long a failed record stays invisible before it is
	// delivered again. SQS waits the queue's visibility timeout; the demo
	// compresses it.
	Visibility time.Duration
	// MaxReceives is how often a record may be delivered before it goes to
	// the dead-letter queue (maxReceiveCount).
	MaxReceives int
}

// SQSResult is what became of an SQS load.
type SQSResult struct {
	Batches     int // batches sent, first deliveries
	Records     int // records sent
	Invocations int // invocations, redeliveries included
	// Redelivered counts record deliveries after the first: records the
	// function reported in batchItemFailures, or whose whole invocation
	// failed, delivered again.
	Redelivered int
	// BatchFailed counts invocations that failed as a whole (a function
	// error or no response): every record of theirs was redelivered.
	BatchFailed int
	// DeadLettered are the IDs of records that failed MaxReceives times.
	DeadLettered []string
}

// delivery is one batch in the queue.
type delivery struct {
	records []events.SQSMessage
}

// DeliverSQS delivers batches to f as an SQS event source mapping with
// ReportBatchItemFailures does, as many at once as f has emulators: it
// invokes f with each batch, and delivers again, after q.Visibility, the
// records the response names in batchItemFailures, or all of the batch's
// records if the invocation failed. It returns once every record was
// processed or dead-lettered, or ctx ends.
func DeliverSQS(ctx context.Context, f *Function, batches []events.SQSEvent, q Queue) (SQSResult, error) {
	res := SQSResult{Batches: len(batches)}
	total := 0
	for _, b := range batches {
		total += len(b.Records)
	}
	res.Records = total
	queue := make(chan delivery, total+len(batches))
	var (
		mu      sync.Mutex // protects res and pending
		pending = total
		done    = make(chan struct{})
		timers  []*time.Timer
	)
	settle := func(n int) { // n records are done with, for good
		pending -= n
		if pending == 0 {
			close(done)
		}
	}
	for _, b := range batches {
		queue <- delivery{records: b.Records}
	}
	handle := func(d delivery) error {
		payload, err := json.Marshal(events.SQSEvent{Records: d.records})
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		resp, err := f.Invoke(ctx, payload)
		if err != nil && !errors.Is(err, emulator.ErrNoResponse) {
			return err
		}
		failed := map[string]bool{}
		whole := err != nil || resp.Err != nil
		if !whole {
			var out events.SQSEventResponse
			if err := json.Unmarshal(resp.Payload, &out); err != nil {
				return fmt.Errorf("demo: %s: response %s: %w", f.Name, resp.Payload, err)
			}
			for _, it := range out.BatchItemFailures {
				failed[it.ItemIdentifier] = true
			}
		}
		mu.Lock()
		defer mu.Unlock()
		res.Invocations++
		if whole {
			res.BatchFailed++
		}
		var again []events.SQSMessage
		for _, r := range d.records {
			if !whole && !failed[r.MessageId] {
				settle(1)
				continue
			}
			if receives(r) >= q.MaxReceives {
				res.DeadLettered = append(res.DeadLettered, r.MessageId)
				settle(1)
				continue
			}
			again = append(again, redelivered(r))
		}
		if len(again) > 0 {
			res.Redelivered += len(again)
			timers = append(timers, time.AfterFunc(q.Visibility, func() { queue <- delivery{records: again} }))
		}
		return nil
	}
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range len(f.Instances()) {
		wg.Go(func() {
			for {
				select {
				case d := <-queue:
					if err := handle(d); err != nil {
						errOnce.Do(func() { firstErr = err })
						cancel()
						return
					}
				case <-done:
					return
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, t := range timers {
		t.Stop()
	}
	if firstErr != nil {
		return res, firstErr
	}
	if pending > 0 {
		return res, fmt.Errorf("demo: %s: %d records not processed: %w", f.Name, pending, context.Cause(ctx))
	}
	return res, nil
}

// receives returns how often the record has been delivered.
func receives(r events.SQSMessage) int {
	n, err := strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// redelivered returns the record as SQS delivers it again: its receive
// count up by one, with a new receipt handle.
func redelivered(r events.SQSMessage) events.SQSMessage {
	n := receives(r) + 1
	attrs := make(map[string]string, len(r.Attributes)+1)
	for k, v := range r.Attributes {
		attrs[k] = v
	}
	attrs["ApproximateReceiveCount"] = strconv.Itoa(n)
	r.Attributes = attrs
	r.ReceiptHandle = fmt.Sprintf("%s-r%d", r.MessageId, n)
	return r
}

// AsyncResult is what became of asynchronous invocations.
type AsyncResult struct {
	Events      int // events sent
	Invocations int // invocations, retries included
	Retried     int // invocations after a failed one
	// Failed are the IDs of events that failed every attempt, which Lambda
	// would send to the on-failure destination.
	Failed []string
	// Outputs are the successful invocations' outputs, in event order.
	Outputs []json.RawMessage
	// Errors are the function errors of failed attempts.
	Errors []string
}

// FireEvents invokes f asynchronously, as EventBridge does, with every
// event at once (as many run as f has emulators), and retries each failed
// invocation up to retries times after retryDelay, as Lambda retries
// asynchronous invocations (twice by default, after a minute and two).
func FireEvents(ctx context.Context, f *Function, evs []events.EventBridgeEvent, retries int, retryDelay time.Duration) (AsyncResult, error) {
	res := AsyncResult{Events: len(evs), Outputs: make([]json.RawMessage, len(evs))}
	var (
		mu   sync.Mutex // protects res
		wg   sync.WaitGroup
		errs = make([]error, len(evs))
	)
	for i, e := range evs {
		wg.Go(func() {
			payload, err := json.Marshal(e)
			if err != nil {
				errs[i] = fmt.Errorf("demo: %w", err)
				return
			}
			for attempt := 0; ; attempt++ {
				resp, err := f.Invoke(ctx, payload)
				if err != nil && !errors.Is(err, emulator.ErrNoResponse) {
					errs[i] = err
					return
				}
				mu.Lock()
				res.Invocations++
				if attempt > 0 {
					res.Retried++
				}
				switch {
				case err == nil && resp.Err == nil:
					res.Outputs[i] = resp.Payload
					mu.Unlock()
					return
				case err != nil:
					res.Errors = append(res.Errors, err.Error())
				default:
					res.Errors = append(res.Errors, resp.Err.Error())
				}
				if attempt == retries {
					res.Failed = append(res.Failed, e.ID)
					mu.Unlock()
					return
				}
				mu.Unlock()
				select {
				case <-time.After(retryDelay):
				case <-ctx.Done():
					errs[i] = ctx.Err()
					return
				}
			}
		})
	}
	wg.Wait()
	return res, errors.Join(errs...)
}
