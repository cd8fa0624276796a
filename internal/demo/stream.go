package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/dynalock/dynalock/internal/dynamotest"
	"github.com/dynalock/dynalock/internal/emulator"
)

// How DeliverStream plays Lambda's DynamoDB Streams poller.
const (
	// StreamBatchSize is the most records one invocation gets: the
	// example stack's (infra/stack.AlertsBatchSize).
	StreamBatchSize = 10
	// streamPollInterval is the wait after a read that found nothing new:
	// Lambda polls a shard four times a second.
	streamPollInterval = 250 * time.Millisecond
	// A failed batch is delivered again after a wait that starts at
	// streamRetryFirst and doubles up to streamRetryMax. After
	// streamGiveUp of failures of one record, DeliverStream returns an
	// error: the demo would otherwise hang on a function that cannot
	// succeed. (The stack bounds retries instead, AlertsRetryAttempts.)
	streamRetryFirst = 50 * time.Millisecond
	streamRetryMax   = time.Second
	streamGiveUp     = time.Minute
)

// StreamResult is what became of a stream delivered by DeliverStream.
type StreamResult struct {
	// Records counts the records delivered, each once however often it
	// was delivered again; Filtered the records the filter left out.
	Records, Filtered int
	// Batches counts batches delivered for the first time; Invocations
	// every invocation, redeliveries included.
	Batches, Invocations int
	// Retried counts redeliveries: after a response that named a record in
	// batchItemFailures, from that record; after a failed invocation
	// (BatchFailed counts those), from the batch's first record.
	Retried, BatchFailed int
	// MaxRetries is the most redeliveries one record needed.
	MaxRetries int
}

// StreamsClient returns a DynamoDB Streams client of the stack's DynamoDB
// Local, with dummy static credentials.
func (s *Stack) StreamsClient() *dynamodbstreams.Client {
	return dynamodbstreams.New(dynamodbstreams.Options{
		Region:       dynamotest.Region,
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(s.DB.Endpoint),
	})
}

// StreamARN returns the ARN of table's latest stream.
func (s *Stack) StreamARN(ctx context.Context, table string) (string, error) {
	out, err := s.Client().DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return "", fmt.Errorf("demo: describe table %s: %w", table, err)
	}
	if out.Table.LatestStreamArn == nil {
		return "", fmt.Errorf("demo: table %s has no stream", table)
	}
	return *out.Table.LatestStreamArn, nil
}

// DeliverStream reads the DynamoDB stream arn from its oldest record
// (TRIM_HORIZON) and delivers it to f as Lambda's event source mapping
// with ReportBatchItemFailures does: up to StreamBatchSize records an
// invocation, one invocation at a time per shard, a parent shard before
// its children (one shard at a time: DynamoDB Local's stream has one
// open shard), and only the records keep accepts, as the mapping's
// filter does (nil keeps all). At a response that names a record in
// batchItemFailures (the lowest sequence number, if several) it reads
// the shard again from that record (AT_SEQUENCE_NUMBER) and delivers from
// there, after a backoff; a failed invocation is delivered again from its
// first record. It returns once drain is closed and a read begun after
// that found nothing more, or when ctx ends or a record fails for
// streamGiveUp.
func DeliverStream(ctx context.Context, f *Function, streams *dynamodbstreams.Client, arn string, keep func(events.DynamoDBEventRecord) bool, drain <-chan struct{}) (StreamResult, error) {
	p := &streamPoller{f: f, streams: streams, arn: arn, keep: keep, drain: drain}
	done := map[string]bool{}
	for {
		sh, err := p.nextShard(ctx, done)
		if err != nil || sh == "" {
			return p.res, err
		}
		if err := p.readShard(ctx, sh); err != nil {
			return p.res, err
		}
		done[sh] = true
	}
}

// streamPoller is DeliverStream's state; one goroutine uses it.
type streamPoller struct {
	f       *Function
	streams *dynamodbstreams.Client
	arn     string
	keep    func(events.DynamoDBEventRecord) bool
	drain   <-chan struct{}
	res     StreamResult
	newest  string // the highest sequence number read so far
}

// nextShard returns the first shard not done whose parent is done or
// gone, or "" if there is none.
func (p *streamPoller) nextShard(ctx context.Context, done map[string]bool) (string, error) {
	var shards []types.Shard
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(p.arn)}
	for {
		out, err := p.streams.DescribeStream(ctx, in)
		if err != nil {
			return "", fmt.Errorf("demo: describe stream %s: %w", p.arn, err)
		}
		shards = append(shards, out.StreamDescription.Shards...)
		if in.ExclusiveStartShardId = out.StreamDescription.LastEvaluatedShardId; in.ExclusiveStartShardId == nil {
			break
		}
	}
	known := map[string]bool{}
	for _, sh := range shards {
		known[aws.ToString(sh.ShardId)] = true
	}
	for _, sh := range shards {
		id, parent := aws.ToString(sh.ShardId), aws.ToString(sh.ParentShardId)
		if !done[id] && (parent == "" || done[parent] || !known[parent]) {
			return id, nil
		}
	}
	return "", nil
}

// readShard delivers one shard until it is closed and read to its end,
// or drain is closed and it has nothing more.
func (p *streamPoller) readShard(ctx context.Context, shard string) error {
	iter, err := p.iterator(ctx, shard, types.ShardIteratorTypeTrimHorizon, "")
	if err != nil {
		return err
	}
	var failing string // the record being delivered again, "" if none
	var failingSince time.Time
	retries, backoff := 0, streamRetryFirst
	for {
		draining := p.draining()
		out, err := p.streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(StreamBatchSize)})
		if err != nil {
			return fmt.Errorf("demo: %s: get records of %s: %w", p.f.Name, shard, err)
		}
		batch, err := p.batch(out.Records)
		if err != nil {
			return err
		}
		switch {
		case len(out.Records) == 0 && (out.NextShardIterator == nil || draining):
			return nil
		case len(out.Records) == 0:
			if err := sleep(ctx, streamPollInterval); err != nil {
				return err
			}
		}
		if len(batch) == 0 {
			iter = out.NextShardIterator
			continue
		}
		failed, err := p.invoke(ctx, batch, failing != "")
		if err != nil {
			return err
		}
		if failed == "" {
			iter, failing = out.NextShardIterator, ""
			continue
		}
		p.res.Retried++
		if failed != failing {
			failing, failingSince, retries, backoff = failed, time.Now(), 0, streamRetryFirst
		}
		retries++
		p.res.MaxRetries = max(p.res.MaxRetries, retries)
		if time.Since(failingSince) > streamGiveUp {
			return fmt.Errorf("demo: %s: stream record %s still failing after %s (%d deliveries)", p.f.Name, failed, streamGiveUp, retries)
		}
		if err := sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, streamRetryMax)
		if iter, err = p.iterator(ctx, shard, types.ShardIteratorTypeAtSequenceNumber, failed); err != nil {
			return err
		}
	}
}

// batch converts the records read and returns those the filter keeps,
// counting the ones not read before.
func (p *streamPoller) batch(recs []types.Record) ([]events.DynamoDBEventRecord, error) {
	var batch []events.DynamoDBEventRecord
	for _, r := range recs {
		e, err := StreamEvent(p.arn, r)
		if err != nil {
			return nil, err
		}
		seq := e.Change.SequenceNumber
		fresh := p.newest == "" || lessSeq(p.newest, seq)
		if fresh {
			p.newest = seq
		}
		if p.keep != nil && !p.keep(e) {
			if fresh {
				p.res.Filtered++
			}
			continue
		}
		if fresh {
			p.res.Records++
		}
		batch = append(batch, e)
	}
	return batch, nil
}

// invoke delivers batch and returns the sequence number to deliver from
// again, "" if the whole batch was processed.
func (p *streamPoller) invoke(ctx context.Context, batch []events.DynamoDBEventRecord, redelivery bool) (string, error) {
	payload, err := json.Marshal(events.DynamoDBEvent{Records: batch})
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	resp, err := p.f.Invoke(ctx, payload)
	if err != nil && !errors.Is(err, emulator.ErrNoResponse) {
		return "", err
	}
	p.res.Invocations++
	if !redelivery {
		p.res.Batches++
	}
	first := batch[0].Change.SequenceNumber
	if err != nil || resp.Err != nil {
		p.res.BatchFailed++
		return first, nil
	}
	var out events.DynamoDBEventResponse
	if err := json.Unmarshal(resp.Payload, &out); err != nil {
		return "", fmt.Errorf("demo: %s: response %s: %w", p.f.Name, resp.Payload, err)
	}
	in := map[string]bool{}
	for _, r := range batch {
		in[r.Change.SequenceNumber] = true
	}
	failed := ""
	for _, it := range out.BatchItemFailures {
		if !in[it.ItemIdentifier] { // Lambda fails the whole batch
			p.res.BatchFailed++
			return first, nil
		}
		if failed == "" || lessSeq(it.ItemIdentifier, failed) {
			failed = it.ItemIdentifier
		}
	}
	return failed, nil
}

func (p *streamPoller) iterator(ctx context.Context, shard string, typ types.ShardIteratorType, seq string) (*string, error) {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(p.arn), ShardId: aws.String(shard), ShardIteratorType: typ}
	if seq != "" {
		in.SequenceNumber = aws.String(seq)
	}
	out, err := p.streams.GetShardIterator(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("demo: shard iterator %s of %s: %w", typ, shard, err)
	}
	return out.ShardIterator, nil
}

func (p *streamPoller) draining() bool {
	select {
	case <-p.drain:
		return true
	default:
		return false
	}
}

// lessSeq reports whether decimal sequence number a is below b.
func lessSeq(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return fmt.Errorf("demo: %w", ctx.Err())
	}
}
