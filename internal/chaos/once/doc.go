// Package once is the fault-injection proof of the middleware's
// idempotency: a driver delivers every event one to five times (some
// copies at the same time, some after the first finished, some after the
// first's answer was lost, some after the first holder was SIGKILLed
// mid-handler) to worker processes that run the middleware's wrappers
// with WithIdempotency — each event through one delivery path (paths.go:
// Wrap, WrapSQS, WrapHTTP, WrapKinesis and WrapDynamoDBStream) — and write
// their effects, the event's completion and the release of its locks in
// one transaction (lock.FromContext, then lock.Lease.Complete), over
// connections that drop responses, reset, fail, throttle, delay and land
// requests late (internal/httpfault). The widened run also gives keys NUL,
// "/", "#" and non-ASCII bytes (with pairs of events whose keys differ only
// by where a NUL sits), drops every answer of some completing
// transactions (the middleware then releases the claim), and has handlers
// extend the leases whose end the middleware fixed.
//
// The run writes a history (history.go: every line's fields) and Check
// judges it from that file alone (rules in check.go), so a recorded run
// can be judged again: `go run ./cmd/chaos/once -check FILE`.
// Config.Unsafe (-unsafe-claims) breaks a condition the proof relies on,
// and the check must then fail.
package once
