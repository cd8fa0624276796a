// Package once is the fault-injection proof of the middleware's
// idempotency: a driver delivers every event one to five times (some
// copies at the same time, some after the first finished, some after the
// first's answer was lost, some after the first holder was SIGKILLed
// mid-handler) to worker processes that run the real middleware.Wrap with
// WithIdempotency and write their effects with middleware.WriteResult,
// over connections that drop responses, reset, fail, throttle, delay and
// land requests late (internal/httpfault). The checker then counts each
// event's effects (exactly one), compares every answer with the stored
// result, reads every event's completed record, and looks for records
// left held.
package once
