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

// SQSResult is what became of an SQS load.
type SQSResult struct {
	Batches     int // batches sent (SendMessageBatch)
	Records     int // records sent
	Invocations int // invocations, redeliveries included
	// Redelivered counts receives after a message's first: records the
	// function reported in batchItemFailures, or whose whole invocation
	// failed, received again.
	Redelivered int
	// BatchFailed counts invocations that failed as a whole (a function
	// error or no response): every record of theirs came back.
	BatchFailed int
	// VisibilityChanges counts the visibility changes the functions made
	// (WithVisibilityBackoff) that the queue honoured.
	VisibilityChanges int
	// DeadLettered are the IDs of records moved to the dead-letter queue
	// after MaxReceives receives.
	DeadLettered []string
	// Latencies are the processed records' times from being sent to the
	// end of the invocation that processed them, in the order processed.
	Latencies []time.Duration
}

// pollInterval is how long a poller waits when its queue has no visible
// message. Lambda's pollers long-poll; this is close enough.
const pollInterval = 10 * time.Millisecond

// DeliverSQS sends batches to the demo's SQS stand-in (a queue per
// eventSourceARN, kept as q says) and delivers them to f as Lambda's SQS
// event source mapping with ReportBatchItemFailures does: pollers, as many
// per queue as f has emulators, receive up to q.BatchSize visible messages
// and invoke f with them; the records the response does not name in
// batchItemFailures are deleted, the others (all of them when the
// invocation fails) come back when their visibility timeout ends — the
// queue's, or the one the function set through the SQS API. A message
// received q.MaxReceives times goes to the dead-letter queue at its next
// receive. It returns once every record was deleted or dead-lettered, or
// ctx ends.
func DeliverSQS(ctx context.Context, f *Function, batches []events.SQSEvent, q Queue) (SQSResult, error) {
	if f.sqs == nil {
		return SQSResult{}, fmt.Errorf("demo: %s has no SQS stand-in", f.Name)
	}
	res := SQSResult{Batches: len(batches)}
	for _, b := range batches {
		res.Records += len(b.Records)
	}
	queues, err := f.sqs.send(batches, q, time.Now())
	if err != nil {
		return res, err
	}
	var mu sync.Mutex // protects res
	handle := func(queue *sqsQueue, recs []events.SQSMessage) error {
		payload, err := json.Marshal(events.SQSEvent{Records: recs})
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		resp, err := f.Invoke(ctx, payload)
		if err != nil && !errors.Is(err, emulator.ErrNoResponse) {
			return err
		}
		whole := err != nil || resp.Err != nil
		failed := map[string]bool{}
		if !whole {
			var out events.SQSEventResponse
			if err := json.Unmarshal(resp.Payload, &out); err != nil {
				return fmt.Errorf("demo: %s: response %s: %w", f.Name, resp.Payload, err)
			}
			for _, it := range out.BatchItemFailures {
				failed[it.ItemIdentifier] = true
			}
		}
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		res.Invocations++
		if whole {
			res.BatchFailed++
			return nil
		}
		for _, r := range recs {
			if failed[r.MessageId] {
				continue
			}
			if sent, err := queue.delete(r.ReceiptHandle); err == nil {
				res.Latencies = append(res.Latencies, now.Sub(sent))
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, queue := range queues {
		for range len(f.Instances()) {
			wg.Go(func() {
				for !queue.settled() {
					recs := queue.receive(time.Now())
					if len(recs) == 0 {
						select {
						case <-time.After(pollInterval):
							continue
						case <-ctx.Done():
							return
						}
					}
					if err := handle(queue, recs); err != nil {
						cancel(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	pending := 0
	for _, queue := range queues {
		redelivered, changes, dead := queue.stats()
		res.Redelivered += redelivered
		res.VisibilityChanges += changes
		res.DeadLettered = append(res.DeadLettered, dead...)
		if !queue.settled() {
			pending++
		}
	}
	if err := context.Cause(ctx); err != nil {
		return res, err
	}
	if pending > 0 {
		return res, fmt.Errorf("demo: %s: %d queues not drained", f.Name, pending)
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
