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

// errNoSequenceNumber means a stream record that failed has no sequence
// number to report. WrapKinesis and WrapDynamoDBStream then fail the
// whole invocation instead: an empty item identifier in the response would
// be read by Lambda as the failure of the whole batch anyway.
var errNoSequenceNumber = errors.New("middleware: a failed stream record has no sequence number")

// WrapKinesis returns a Kinesis batch handler that runs h once per record
// under the locks key derives from it, following Lambda's checkpointing of
// streams (enable ReportBatchItemFailures on the event source mapping).
//
// Records run one at a time, in the batch's order, which is their shard's
// sequence-number order. At the first record that fails — its lock is held
// (policy Fail, or Wait once the wait is over), no key can be derived
// (unless WithRunUnkeyed is given; a panicking key function counts as such), h
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
// order of each partition key kept); WithConcurrency is a configuration
// error.
//
// With WithIdempotency (a Key of events.KinesisEventRecord, such as
// KinesisEventID(), or KinesisData for an ID the producer wrote), a
// record whose effect completed in an earlier delivery is acknowledged
// without running h, and the batch goes on: when Lambda delivers a whole
// batch again (a failed or timed-out invocation, a lost response,
// bisection), the records that completed are answered from the store and
// only the rest run. A record whose claim another delivery holds is a
// record whose lock is held: with Fail, or Wait once the wait is over, it
// fails, the batch stops there and its sequence number is reported. A
// record without an idempotency key, or whose key was used before for
// another payload (the record differs), fails likewise. h's error or panic
// releases the claim, so the redelivery runs h again; a claim whose
// invocation was stopped at its timeout frees itself the grace after the
// deadline.
//
// If h panics, its locks are released and the panic goes on: the
// invocation fails and Lambda retries the batch (or bisects it, with
// BisectBatchOnFunctionError). A failed record without a sequence number
// fails the invocation with errNoSequenceNumber.
func WrapKinesis(c *lock.Client, key Key[events.KinesisEventRecord], h func(context.Context, events.KinesisEventRecord) error, opts ...Option) (func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error), error) {
	inv := newInvoker(c, key.given(), h != nil, opts)
	inv.refuseInapplicable(kindStream, "WrapKinesis")
	if err := built[events.KinesisEventRecord](inv, "WrapKinesis", key.err); err != nil {
		return nil, err
	}
	return func(ctx context.Context, batch events.KinesisEvent) (events.KinesisEventResponse, error) {
		var resp events.KinesisEventResponse
		in := inv.begin(ctx)
		defer in.end()
		seq, err := streamBatch(ctx, in, key, h, batch.Records, func(r events.KinesisEventRecord) string { return r.Kinesis.SequenceNumber })
		if seq != "" {
			resp.BatchItemFailures = []events.KinesisBatchItemFailure{{ItemIdentifier: seq}}
		}
		return resp, err
	}, nil
}

// WrapDynamoDBStream returns a DynamoDB Streams batch handler that runs h
// once per record under the locks key derives from it, with the rules of
// WrapKinesis: records one at a time in sequence-number order, and at the
// first failure its sequence number in the response (enable
// ReportBatchItemFailures) and the later records not run. With
// WithIdempotency (a Key of events.DynamoDBEventRecord, such as
// DynamoDBEventID()), a record that completed in an earlier delivery is
// acknowledged without running h, as WrapKinesis says.
func WrapDynamoDBStream(c *lock.Client, key Key[events.DynamoDBEventRecord], h func(context.Context, events.DynamoDBEventRecord) error, opts ...Option) (func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error), error) {
	inv := newInvoker(c, key.given(), h != nil, opts)
	inv.refuseInapplicable(kindStream, "WrapDynamoDBStream")
	if err := built[events.DynamoDBEventRecord](inv, "WrapDynamoDBStream", key.err); err != nil {
		return nil, err
	}
	return func(ctx context.Context, batch events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		var resp events.DynamoDBEventResponse
		in := inv.begin(ctx)
		defer in.end()
		seq, err := streamBatch(ctx, in, key, h, batch.Records, func(r events.DynamoDBEventRecord) string { return r.Change.SequenceNumber })
		if seq != "" {
			resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{{ItemIdentifier: seq}}
		}
		return resp, err
	}, nil
}

// streamBatch runs the records in order until one fails, and returns that
// record's sequence number ("" when every record was processed), or
// errNoSequenceNumber when it has none. seqOf returns a record's sequence
// number.
func streamBatch[R any](ctx context.Context, in *invocation, key Key[R], h func(context.Context, R) error, recs []R, seqOf func(R) string) (string, error) {
	for i, r := range recs {
		seq := seqOf(r)
		log := in.log.With("sequenceNumber", seq)
		msg, err := streamRecord(ctx, in, key, h, r, log)
		if err == nil {
			continue
		}
		in.stats.failed()
		log.Warn(msg, "error", err, "notRun", len(recs)-i-1,
			"note", "the records after it are not run: Lambda delivers them again from this record's sequence number")
		if seq == "" {
			return "", fmt.Errorf("%w (record %d of %d): %w", errNoSequenceNumber, i+1, len(recs), err)
		}
		return seq, nil
	}
	return "", nil
}

// streamRecord processes one record and returns why it failed, if it did,
// with the log message to report it by. A record that completed before
// (WithIdempotency) is processed: it is answered without running h.
func streamRecord[R any](ctx context.Context, in *invocation, key Key[R], h func(context.Context, R) error, r R, log *slog.Logger) (msg string, err error) {
	var ids []string
	if !in.o.disabled {
		// A key error names the record's event ID (see eventID).
		ids, err = keys(ctx, key, in.o.namespace, r, log)
		if err != nil {
			if !in.o.runUnkeyed {
				return "no lock key: record failed", err
			}
			log.Warn("no lock key: running record without a lock", "error", err)
			ids = nil
		}
	}
	cl, err := claimFor(ctx, in.invoker, r, log)
	if err != nil {
		return "no idempotency key: record failed", err
	}
	defer func() {
		if p := recover(); p != nil {
			log.Error("handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			panic(p)
		}
	}()
	out, _, err := in.runEvent(ctx, ids, cl, log, func(ctx context.Context) error { return h(ctx, r) })
	switch {
	case err == nil || out == skipped || out == answered:
		return "", nil
	case out == ran:
		return "handler failed: record failed", err
	}
	return "lock not acquired: record failed", err
}
