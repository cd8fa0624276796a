package middleware

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/dynalock/dynalock/lock"
)

// Wrap returns a handler of h's own type, func(context.Context, TIn)
// (TOut, error), that runs h under the locks key derives from each event:
// for EventBridge and scheduled events, API requests, or any event whose
// handler has an output. For handlers that return only an error, use
// WrapNoOutput; for SQS batches, WrapSQS. Several keys are taken all or
// none, and a key given twice is taken once. The returned handler:
//
//   - returns an error matching lock.ErrLockAlreadyAcquired when the lock
//     is held and the policy is Fail (or Wait, once the wait is over), so
//     Lambda retries the event; with Skip it returns TOut's zero value and
//     no error, without running h;
//   - returns an error matching ErrNoKey naming the expression and the
//     event's ID when no key can be derived, also when key panics (the
//     panic and its stack are logged), unless WithRunUnkeyed is given;
//   - returns an error matching ErrNoTime when too little time is left to
//     take a lock (see ErrNoTime); other acquisition failures match
//     lock.ErrLockAcquisition;
//   - otherwise returns what h returns. A failed release is logged, not
//     returned: h's work is done, and the lease ends by itself.
//
// h's context ends the reserve before the invocation's deadline and
// carries the event's lease (lock.FromContext: its tokens, lease-checked
// writes, and with WithIdempotency the claim its Complete completes). The
// locks are released before the handler returns, also when h panics; then
// the panic goes on. Configuration errors (a nil client or h, no key or a
// key that cannot work, no namespace, an option Wrap cannot apply such as
// WithConcurrency) are returned when the handler is built, and it is nil.
func Wrap[TIn, TOut any](c *lock.Client, key Key[TIn], h func(context.Context, TIn) (TOut, error), opts ...Option) (func(context.Context, TIn) (TOut, error), error) {
	inv := newInvoker(c, key.given(), h != nil, opts)
	inv.refuseInapplicable(kindWrap, "Wrap")
	if err := built[TIn](inv, "Wrap", key.err); err != nil {
		return nil, err
	}
	return func(ctx context.Context, event TIn) (out TOut, err error) {
		hooks := &claimHooks{
			result: func() ([]byte, error) { return json.Marshal(out) },
			answer: func(done *completion) error { return decodeResult(done, &out) },
		}
		err = serve(ctx, inv, key, event, func(ctx context.Context) error {
			var herr error
			out, herr = h(ctx, event)
			return herr
		}, hooks)
		return out, err
	}, nil
}

// built finishes a wrapper's configuration: a key that cannot work
// (keyErr), an idempotency key of another event type than T. It returns
// the wrapper's configuration error, naming it, or nil.
func built[T any](inv *invoker, name string, keyErr error) error {
	if inv.err == nil && keyErr != nil && !inv.o.disabled {
		inv.err = keyErr
	}
	bindIdempotency[T](inv)
	if inv.err != nil {
		return fmt.Errorf("middleware: %s: %w", name, inv.err)
	}
	return nil
}

// WrapNoOutput is Wrap for handlers without an output,
// func(context.Context, TIn) error: the commonest shape of EventBridge and
// scheduled handlers, which lambda.Start accepts as well. It behaves as
// Wrap does and returns h's error. It is a function of its own, named for
// what sets it apart (no TOut), because one generic function cannot accept
// both shapes; with it, a handler of the wrong shape is a compile error, as
// with Wrap.
func WrapNoOutput[TIn any](c *lock.Client, key Key[TIn], h func(context.Context, TIn) error, opts ...Option) (func(context.Context, TIn) error, error) {
	inv := newInvoker(c, key.given(), h != nil, opts)
	inv.refuseInapplicable(kindNoOutput, "WrapNoOutput")
	if err := built[TIn](inv, "WrapNoOutput", key.err); err != nil {
		return nil, err
	}
	return func(ctx context.Context, event TIn) error {
		return serve(ctx, inv, key, event, func(ctx context.Context) error { return h(ctx, event) }, nil)
	}, nil
}

// serve handles one event for Wrap and WrapNoOutput: it derives the
// event's keys (and idempotency claim) and runs fn under their locks as
// the options say. hooks, for Wrap, store and answer its output.
func serve[T any](ctx context.Context, inv *invoker, key Key[T], event T, fn func(context.Context) error, hooks *claimHooks) error {
	in := inv.begin(ctx)
	defer in.end()
	log := in.log.With("eventId", eventID(ctx, event))
	var ids []string
	if !inv.o.disabled {
		var err error
		if ids, err = keys(ctx, key, inv.o.namespace, event, log); err != nil {
			if !inv.o.runUnkeyed {
				in.stats.failed()
				log.Error("no lock key: event failed", "error", err)
				return err
			}
			log.Warn("no lock key: running without a lock", "error", err)
		}
	}
	cl, err := claimFor(ctx, inv, event, log)
	if err != nil {
		in.stats.failed()
		log.Error("no idempotency key: event failed", "error", err)
		return err
	}
	if cl != nil && hooks != nil {
		cl.result = hooks.result
	}
	outcome, done, err := in.runEvent(ctx, ids, cl, log, fn)
	if outcome == answered && hooks != nil {
		err = hooks.answer(done)
	}
	if err != nil {
		in.stats.failed()
		if outcome == refused {
			log.Warn("lock not acquired: event failed", "lockIds", ids, "error", err)
		}
	}
	return err
}
