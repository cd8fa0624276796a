package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/lock"
)

// ErrNoLease means Write found no lease in its context: the handler runs
// without locks (WithDisabled, or RunUnkeyed without idempotency), or the
// context is not one the middleware or lock.Do gave.
var ErrNoLease = errors.New("middleware: no lease in the context")

// eventLeases are what one event's handler holds: its entity leases and
// its idempotency claim. The middleware puts them in the handler's
// context for Write.
type eventLeases struct {
	leases []*lock.Lease // by lock ID
	claim  *lock.Lease   // nil without idempotency

	mu      sync.Mutex // serialises Writes; protects written and stored
	written bool       // a Write completed the claim
	stored  []byte     // the result WriteResult stored with the completion
}

type eventKey struct{}

// Write applies items (Put, Update, Delete or ConditionCheck actions on
// any tables) in one DynamoDB transaction together with a check that
// every lease the middleware took for this event still holds its lock,
// and, under WithIdempotency, the completion of the event's claim: the
// handler's effects, the leases' checks and the completion happen together
// or not at all. It is lock.Lease.Write on the first entity lease with
// lock.AlsoUnder the others and lock.AndComplete the claim. Call it with
// ctx, the handler's context.
//
// When it returns nil, the event is done: a duplicate delivered from then
// on gets the stored result without running the handler, even if the
// handler then fails. Wrap's output is stored after the handler returns,
// by one more write; if that write fails (it is logged) or the process
// dies first, duplicates get ErrNoResult. WriteResult stores the output in
// the transaction itself and avoids both. Make all of an event's writes in one Write: under
// WithIdempotency a second one fails with lock.ErrInvalidInput, since the
// first completed the event.
//
// Errors are Lease.Write's: one matching lock.ErrLockLost means a lease
// was lost and nothing was written (the event must not be reported done:
// return an error); a *lock.WriteConditionError names the item whose own
// condition failed. Without a lease in ctx, Write sends nothing and
// returns an error matching ErrNoLease, so that code shared with runs
// without locks can write by itself. The lock table grant then needs
// dynamodb:ConditionCheckItem besides dynamodb:UpdateItem, and the
// items' tables their own actions.
func Write(ctx context.Context, items ...types.TransactWriteItem) error {
	return write(ctx, nil, items)
}

// WriteResult is Write that also stores result, as JSON, as the event's
// output in the same transaction: for a Wrap handler whose output is known
// when it writes, so that even if its process dies right after the write
// (before the output could be stored by another write), duplicates get
// their answer. When the handler then returns an output whose JSON is the
// same, nothing more is sent; another output replaces it. A result over
// lock.MaxResultBytes as JSON fails with ErrResultTooLarge before any
// request. Without idempotency it is Write.
func WriteResult(ctx context.Context, result any, items ...types.TransactWriteItem) error {
	b, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("middleware: WriteResult: the result cannot be encoded as JSON: %w", err)
	}
	if len(b) > lock.MaxResultBytes {
		return fmt.Errorf("%w: %d bytes of JSON, more than lock.MaxResultBytes (%d): store a reference to where the result is kept", ErrResultTooLarge, len(b), lock.MaxResultBytes)
	}
	return write(ctx, b, items)
}

// completedByWrite reports whether a Write in ctx, a handler's context,
// completed its event's claim.
func completedByWrite(ctx context.Context) bool {
	ev, _ := ctx.Value(eventKey{}).(*eventLeases)
	if ev == nil {
		return false
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.written
}

func write(ctx context.Context, result []byte, items []types.TransactWriteItem) error {
	ev, _ := ctx.Value(eventKey{}).(*eventLeases)
	if ev == nil {
		if ls := lock.AllFromContext(ctx); len(ls) > 0 {
			ev = &eventLeases{leases: ls}
		}
	}
	if ev == nil || len(ev.leases) == 0 && ev.claim == nil {
		return ErrNoLease
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.written {
		return fmt.Errorf("%w: Write: an earlier Write completed the event; make all of an event's writes in one Write", lock.ErrInvalidInput)
	}
	var opts []lock.WriteOption
	first := ev.claim
	if len(ev.leases) > 0 {
		first = ev.leases[0]
		if len(ev.leases) > 1 {
			opts = append(opts, lock.AlsoUnder(ev.leases[1:]...))
		}
	}
	if ev.claim != nil {
		opts = append(opts, lock.AndComplete(ev.claim, result))
	}
	if err := first.Write(ctx, items, opts...); err != nil {
		return err
	}
	if ev.claim != nil {
		ev.written, ev.stored = true, result
	}
	return nil
}
