package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
)

// ErrNoSequenceNumber means a stream record that failed has no sequence
// number to report. WrapKinesis and WrapDynamoDBStream then fail the
// whole invocation instead: an empty item identifier in the response would
// be read by Lambda as the failure of the whole batch anyway.
var ErrNoSequenceNumber = errors.New("middleware: a failed stream record has no sequence number")

// WrapKinesis returns a Kinesis batch handler that runs h once per record
// under the locks key derives from it, following Lambda's checkpointing of
// streams (enable ReportBatchItemFailures on the event source mapping).
//
// Records run one at a time, in the batch's order, which is their shard's
// sequence-number order. At the first record that fails — its lock is held
// (policy Fail, or Wait once the wait is over), no key can be derived
// (unless RunUnkeyed is set; a panicking key function counts as such), h
// returns an error, or the invocation runs out of time (ErrNoTime) — the
// response names that record's sequence number, and the records after it
// do not run: Lambda checkpoints before the lowest sequence number reported
// and delivers that record and every later one again. A record skipped by
// policy Skip is acknowledged and the batch goes on.
//
// Records do not run concurrently, not even those of different keys: a
// later record that ran before an earlier one failed would run again when
// Lambda redelivers from the checkpoint. So a failure never makes a
// record that succeeded run twice; only the redelivery of the failed
// record itself, and Lambda's own retries of a failed invocation, repeat
// work. For throughput across keys, raise the event source mapping's
// ParallelizationFactor (up to 10 batches of one shard at once, with the
// order of each partition key kept); WithConcurrency does not apply.
//
// If h panics, its locks are released and the panic goes on: the
// invocation fails and Lambda retries the batch (or bisects it, with
// BisectBatchOnFunctionError). A failed record without a sequence number
// fails the invocation with ErrNoSequenceNumber.
func WrapKinesis(c *lock.Client, key KeyFunc[events.KinesisEventRecord], h func(context.Context, events.KinesisEventRecord) error, opts ...Option) func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error) {
	inv := newInvoker(c, key != nil, h != nil, opts)
	return func(ctx context.Context, batch events.KinesisEvent) (events.KinesisEventResponse, error) {
		var resp events.KinesisEventResponse
		if inv.err != nil {
			return resp, inv.err
		}
		in := inv.begin(ctx)
		defer in.end()
		seq, err := streamBatch(ctx, in, key, h, batch.Records, func(r events.KinesisEventRecord) (string, string) { return r.Kinesis.SequenceNumber, r.EventID })
		if seq != "" {
			resp.BatchItemFailures = []events.KinesisBatchItemFailure{{ItemIdentifier: seq}}
		}
		return resp, err
	}
}

// WrapDynamoDBStream returns a DynamoDB Streams batch handler that runs h
// once per record under the locks key derives from it, with the rules of
// WrapKinesis: records one at a time in sequence-number order, and at the
// first failure its sequence number in the response (enable
// ReportBatchItemFailures) and the later records not run.
func WrapDynamoDBStream(c *lock.Client, key KeyFunc[events.DynamoDBEventRecord], h func(context.Context, events.DynamoDBEventRecord) error, opts ...Option) func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	inv := newInvoker(c, key != nil, h != nil, opts)
	return func(ctx context.Context, batch events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		var resp events.DynamoDBEventResponse
		if inv.err != nil {
			return resp, inv.err
		}
		in := inv.begin(ctx)
		defer in.end()
		seq, err := streamBatch(ctx, in, key, h, batch.Records, func(r events.DynamoDBEventRecord) (string, string) { return r.Change.SequenceNumber, r.EventID })
		if seq != "" {
			resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{{ItemIdentifier: seq}}
		}
		return resp, err
	}
}

// streamBatch runs the records in order until one fails, and returns that
// record's sequence number ("" when every record was processed), or
// ErrNoSequenceNumber when it has none. idOf returns a record's sequence
// number and event ID.
func streamBatch[R any](ctx context.Context, in *invocation, key KeyFunc[R], h func(context.Context, R) error, recs []R, idOf func(R) (seq, eventID string)) (string, error) {
	for i, r := range recs {
		seq, eventID := idOf(r)
		log := in.log.With("sequenceNumber", seq)
		msg, err := streamRecord(ctx, in, key, h, r, eventID, log)
		if err == nil {
			continue
		}
		in.stats.failed()
		log.Warn(msg, "error", err, "notRun", len(recs)-i-1,
			"note", "the records after it are not run: Lambda delivers them again from this record's sequence number")
		if seq == "" {
			return "", fmt.Errorf("%w (record %d of %d): %w", ErrNoSequenceNumber, i+1, len(recs), err)
		}
		return seq, nil
	}
	return "", nil
}

// streamRecord processes one record and returns why it failed, if it did,
// with the log message to report it by.
func streamRecord[R any](ctx context.Context, in *invocation, key KeyFunc[R], h func(context.Context, R) error, r R, eventID string, log *slog.Logger) (msg string, err error) {
	var ids []string
	if !in.o.disabled {
		ids, err = keys(ctx, key, in.o.namespace, r, log)
		var ke *KeyError
		if errors.As(err, &ke) && eventID != "" {
			ke.EventID = eventID // the record's, not the invocation's
		}
		if err != nil {
			if !in.o.runUnkeyed {
				return "no lock key: record failed", err
			}
			log.Warn("no lock key: running record without a lock", "error", err)
			ids = nil
		}
	}
	defer func() {
		if p := recover(); p != nil {
			log.Error("handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			panic(p)
		}
	}()
	out, err := in.run(ctx, ids, log, func(ctx context.Context) error { return h(ctx, r) })
	switch {
	case err == nil || out == skipped:
		return "", nil
	case out == ran:
		return "handler failed: record failed", err
	}
	return "lock not acquired: record failed", err
}
