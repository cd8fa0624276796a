package middleware

import (
	"errors"
	"fmt"
)

var (
	// ErrNoKey means no lock key could be derived from an event: the path
	// is missing, the body is not JSON, or the value is empty or not a
	// string or number. Errors matching it are *KeyError values.
	ErrNoKey = errors.New("middleware: no lock key")

	// ErrBatchFailed means every record of an SQS batch failed. WrapSQS
	// returns it, with the response naming every record, so that Lambda
	// counts the invocation as failed and backs off.
	ErrBatchFailed = errors.New("middleware: every record of the batch failed")

	// ErrNoTime means the invocation had too little time left to take a
	// lock and run the handler: its deadline less the reserve had passed,
	// a lease until the deadline plus the grace would have been shorter
	// than the lock accepts (lock.MinTTL, twice its clock-skew tolerance),
	// or the handler would have had less than WithMinTimeLeft. A wait that
	// runs out of time returns an error matching both ErrNoTime and
	// lock.ErrLockAlreadyAcquired.
	ErrNoTime = errors.New("middleware: not enough time left before the invocation's deadline")
)

// KeyError reports an event from which no lock key could be derived. It
// matches ErrNoKey.
type KeyError struct {
	// Expr is the expression or field the key was read from.
	Expr string
	// EventID identifies the event: an SQS message ID, an EventBridge event
	// ID or, for other events, the Lambda request ID. Wrap and WrapSQS fill
	// it in.
	EventID string
	// Reason says what was wrong with the value found.
	Reason string
	// Err is the underlying error, if any (such as a JSON syntax error).
	Err error
}

func (e *KeyError) Error() string {
	s := fmt.Sprintf("middleware: no lock key from %s", e.Expr)
	if e.EventID != "" {
		s += fmt.Sprintf(" in event %q", e.EventID)
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is ErrNoKey.
func (e *KeyError) Is(target error) bool { return target == ErrNoKey }

// Unwrap returns the underlying error.
func (e *KeyError) Unwrap() error { return e.Err }

func keyError(expr, reason string, err error) *KeyError {
	return &KeyError{Expr: expr, Reason: reason, Err: err}
}

// withEventID returns err as a *KeyError naming eventID. An error that is
// not a *KeyError (from a custom KeyFunc) is wrapped in one.
func withEventID(err error, eventID string) *KeyError {
	var ke *KeyError
	if errors.As(err, &ke) {
		cp := *ke
		cp.EventID = eventID
		return &cp
	}
	return &KeyError{Expr: "the key function", EventID: eventID, Err: err}
}
