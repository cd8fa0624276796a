package middleware

import (
	"context"

	"github.com/dynalock/dynalock/lock"
)

// Wrap returns a handler of h's own type that runs h under the locks key
// derives from each event: for EventBridge and scheduled events, or any
// event lambda.Start accepts. Several keys are taken all or none. The
// returned handler:
//
//   - returns an error matching lock.ErrLockAlreadyAcquired when the lock
//     is held and the policy is Fail (or Wait, once the wait is over), so
//     Lambda retries the event; with Skip it returns TOut's zero value and
//     no error, without running h;
//   - returns a *KeyError (matching ErrNoKey) naming the expression and the
//     event's ID when no key can be derived, unless RunUnkeyed is set;
//   - returns ErrNoTime when the invocation's deadline, less the reserve,
//     has passed; other acquisition failures match lock.ErrLockAcquisition;
//   - otherwise returns what h returns. A failed release is logged, not
//     returned: h's work is done, and the lease ends by itself.
//
// h's context ends the reserve before the invocation's deadline and
// carries the leases (lock.FromContext, lock.AllFromContext). The locks are
// released before the handler returns, also when h panics; then the panic
// goes on. Configuration errors (a nil client, key or h) are returned by
// every call.
func Wrap[TIn, TOut any](c *lock.Client, key KeyFunc[TIn], h func(context.Context, TIn) (TOut, error), opts ...Option) func(context.Context, TIn) (TOut, error) {
	inv := newInvoker(c, key != nil, h != nil, opts)
	return func(ctx context.Context, event TIn) (out TOut, err error) {
		if inv.err != nil {
			return out, inv.err
		}
		in := inv.begin(ctx)
		defer in.end()
		log := in.log.With("eventId", eventID(ctx, event))
		var ids []string
		if !inv.o.disabled {
			if ids, err = keys(ctx, key, inv.o.namespace, event, log); err != nil {
				if !inv.o.runUnkeyed {
					in.stats.failed()
					log.Error("no lock key: event failed", "error", err)
					return out, err
				}
				log.Warn("no lock key: running without a lock", "error", err)
			}
		}
		outcome, err := in.run(ctx, ids, log, func(ctx context.Context) error {
			var herr error
			out, herr = h(ctx, event)
			return herr
		})
		if err != nil {
			in.stats.failed()
			if outcome == refused {
				log.Warn("lock not acquired: event failed", "lockIds", ids, "error", err)
			}
		}
		return out, err
	}
}
