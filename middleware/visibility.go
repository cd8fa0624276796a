package middleware

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/dynalock/dynalock/lock"
)

// The visibility backoff's settings, in one place.
const (
	// backoffInitial is the first delay of a held record: SQS's smallest
	// visibility timeout above none, whole seconds being its unit. A holder
	// in a Lambda function typically releases within milliseconds, so the
	// record is tried again about a second later instead of after the
	// queue's visibility timeout. It doubles with each receive.
	backoffInitial = time.Second

	// maxVisibility is the longest visibility timeout SQS accepts: 12 h.
	maxVisibility = 12 * time.Hour

	// maxBatchEntries is the most entries of one
	// ChangeMessageVisibilityBatch request.
	maxBatchEntries = 10
)

// SQSVisibilityAPI is the part of an SQS client that WithVisibilityBackoff
// uses; *sqs.Client from github.com/aws/aws-sdk-go-v2/service/sqs has it.
// The function's role needs sqs:ChangeMessageVisibility on the queues it
// consumes (an event source mapping's grant includes it) and
// sqs:GetQueueAttributes (included too).
type SQSVisibilityAPI interface {
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

type backoffOptions struct {
	client  SQSVisibilityAPI
	initial time.Duration
	// jitter returns a value in [0, n); math/rand/v2's Int64N unless a
	// test sets it.
	jitter func(n int64) int64
	caps   *capCache // the queues' attributes
}

// WithVisibilityBackoff makes WrapSQS set, before the handler returns,
// when each record that failed because its lock was held becomes visible
// again: soon after the lock can be free, instead of after the queue's
// visibility timeout (minutes, six function timeouts as AWS advises, while
// a holder usually releases within milliseconds). The other wrappers
// refuse it when built.
//
// The delay is a jittered backoff over ApproximateReceiveCount n: a whole
// number of seconds drawn from [c/2, c] and rounded up, where c is
// 1 s × 2^(n-1) (1 s, 2 s, 4 s…), at least one second. It is
// never later than the first whole second at which the holder's lease
// (the *lock.HeldError's Holder.ExpiresAt) plus the clock-skew tolerance
// has ended, when the lock can be taken over even if its holder crashed,
// and never above 12 hours, SQS's limit. A record whose delay would reach the queue's
// own visibility timeout is left alone: that timeout brings it back about
// as soon. SQS counts the new timeout from the request. The queue's
// VisibilityTimeout and RedrivePolicy are read with GetQueueAttributes
// once per queue by each execution environment, when its first record is
// backed off, beside the batch's other requests; if that read fails, the
// batch's records keep their visibility timeout.
//
// Each retry is a receive, and SQS moves a message to the dead-letter
// queue at the receive after maxReceiveCount. Backed off from the first
// receive to the last, a record whose key stays busy would get there
// within seconds (1 + 2 + 4 + 8 s for five receives) instead of after
// maxReceiveCount - 1 visibility timeouts. So a record whose next receive
// is its last (ApproximateReceiveCount ≥ maxReceiveCount - 1) keeps the
// queue's visibility timeout: its last chance comes a visibility timeout
// later, as without the backoff, once a burst of contention is over, and
// a record is dead-lettered no sooner than one visibility timeout after
// its first receive. Queues without a redrive policy have no last receive.
//
// Every record of a batch is settled first (it took its locks, or failed)
// and then all the changes go out at once, one ChangeMessageVisibilityBatch
// request per queue and 10 records, the requests concurrently, beside the
// handlers still running and the releases, so that the batch takes no
// longer unless no record ran at all. The queue URL is derived from the
// record's eventSourceARN ("arn:aws:sqs:us-east-1:123456789012:orders" →
// "https://sqs.us-east-1.amazonaws.com/123456789012/orders", with the
// partition's domain), without a request.
//
// Records that failed for other reasons (a handler error, no key, no time,
// a failed acquire) keep the queue's visibility timeout. A record skipped or processed is not
// touched: Lambda deletes it.
//
// FIFO queues: a message in flight blocks the later messages of its group,
// and SQS allows changing the visibility of every in-flight message. So
// the held record and the later records of its group that failed after it
// get one delay, the held record's, and come back together and in order;
// had they kept the visibility timeout, the group would stay blocked until
// then.
//
// No request outlives the batch's releases: each ends the reserve after
// it starts or at the releases' cut-off (just before the invocation's
// deadline), whichever comes first, so that a slow SQS cannot make Lambda
// report a timeout and deliver the whole batch again. A failed request or
// entry, or one cut off (which SQS may or may not have applied), never
// fails the record or the batch: it is logged, counted
// (VisibilityFailures), and the record waits out its visibility timeout
// (or comes back at the delay, if the change went through unanswered). With WithMetrics each invocation reports BackedOff
// (records whose visibility was set) and BackoffDelay (the delays set, in
// seconds). A nil client turns the backoff off.
func WithVisibilityBackoff(client SQSVisibilityAPI) Option {
	return func(o *options) {
		if client == nil {
			o.backoff = nil
			return
		}
		o.backoff = &backoffOptions{client: client, initial: backoffInitial, caps: newCapCache()}
	}
}

// validate reports backoff options that cannot work; nil when the backoff
// is off.
func (b *backoffOptions) validate() error {
	switch {
	case b == nil:
		return nil
	case b.initial <= 0:
		return fmt.Errorf("%w: the initial backoff must be positive, got %s", lock.ErrInvalidInput, b.initial)
	}
	return nil
}
