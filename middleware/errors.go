package middleware

import (
	"errors"
	"fmt"
)

var (
	// ErrNoKey means no lock key could be derived from an event: the path
	// is missing, the body is not JSON, or the value is empty or not a
	// string or number. The error names the expression, the event and what
	// was wrong.
	ErrNoKey = errors.New("middleware: no lock key")

	// errBatchFailed means every record of an SQS batch failed. WrapSQS
	// returns it, with the response naming every record, so that Lambda
	// counts the invocation as failed and backs off.
	errBatchFailed = errors.New("middleware: every record of the batch failed")

	// ErrNoTime means the invocation had too little time left to take a
	// lock and run the handler: its deadline less the reserve had passed,
	// a lease until the deadline plus the grace would have been shorter
	// than the lock accepts (twice its clock-skew tolerance),
	// or the handler would have had less than WithMinTimeLeft. A wait that
	// runs out of time returns an error matching both ErrNoTime and
	// lock.ErrLockAlreadyAcquired.
	ErrNoTime = errors.New("middleware: not enough time left before the invocation's deadline")
)

// keyErr reports an event from which no lock key could be derived. It
// matches ErrNoKey.
type keyErr struct {
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
	// foreign is set when Err is a KeyFunc's own error, which only the log
	// may show (WrapHTTP's answers name the middleware's reasons only).
	foreign bool
}

func (e *keyErr) Error() string {
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
func (e *keyErr) Is(target error) bool { return target == ErrNoKey }

// Unwrap returns the underlying error.
func (e *keyErr) Unwrap() error { return e.Err }

func keyError(expr, reason string, err error) *keyErr {
	return &keyErr{Expr: expr, Reason: reason, Err: err}
}

// withEventID returns err, from the Key named name, as a *keyErr naming
// eventID. An error that is not a *keyErr (a KeyFunc's own) is wrapped in
// one that names the Key.
func withEventID(err error, name, eventID string) *keyErr {
	var ke *keyErr
	if errors.As(err, &ke) {
		cp := *ke
		cp.EventID = eventID
		return &cp
	}
	return &keyErr{Expr: name, EventID: eventID, Err: err, foreign: true}
}
