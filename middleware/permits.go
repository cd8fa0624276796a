package middleware

import (
	"fmt"

	"github.com/dynalock/dynalock/lock"
)

// maxPermits is the most WithPermits accepts: the lock's own bound
// (lock.WithPermits), whose item holds every holder.
const maxPermits = 100

// WithPermits lets up to n handlers run at once per key, instead of one: a
// concurrency limit per entity, such as "at most 3 exports per tenant at a
// time" (lock.WithPermits on every entity lock). Each handler holds a
// permit of its own, with its own lease and fencing token
// (lock.FromContext), released when it returns. The held policies apply to
// a key whose n permits are all taken: Fail, Skip or Wait; WrapSQS reports
// the record as a batch item failure (and backs off its visibility with
// WithVisibilityBackoff), the stream wrappers stop the batch at it, and
// WrapHTTP answers 429 Too Many Requests with Retry-After (not 409: the
// request conflicts with no state, it exceeds a limit, and clients retry
// a 429 with backoff by convention). Records of one SQS batch with the
// same key still run one after the other. Every function sharing the
// namespace must pass the same n; an idempotency claim (WithIdempotency)
// is never shared. n is between 1 and 100; the default, 1, is one handler
// per key.
func WithPermits(n int) Option {
	return func(o *options) { o.permits, o.permitsSet = n, true }
}

// checkPermits refuses a count that the lock would refuse on every event.
func (o options) checkPermits() error {
	if o.permitsSet && (o.permits < 1 || o.permits > maxPermits) {
		return fmt.Errorf("%w: WithPermits(%d): the number of permits must be between 1 and %d", lock.ErrInvalidInput, o.permits, maxPermits)
	}
	return nil
}

// entityOptions returns opts with the permits of the entity locks.
func (in *invocation) entityOptions(opts []lock.Option) []lock.Option {
	if in.o.permits <= 1 {
		return opts
	}
	return append(opts[:len(opts):len(opts)], lock.WithPermits(in.o.permits))
}
