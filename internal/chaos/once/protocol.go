package once

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// EnvWorker holds a worker's settings (JSON); a binary that finds it set
// runs WorkerMain.
const EnvWorker = "DYNALOCK_ONCE_WORKER"

// killLine, then a delivery number and a kill point, is how a worker asks
// to be SIGKILLed in the middle of that delivery's handler.
const killLine = "KILL "

// namespace is the middleware's namespace in every worker: entity locks
// are namespace/account, claims namespace/idempotency#<hex>.
const namespace = "once"

// functionName is every worker's AWS_LAMBDA_FUNCTION_NAME: the scope of
// the middleware's claims (admin.ClaimID), as one Lambda function's.
const functionName = "dynalock-once"

// Event is what is delivered: a credit of Amount to Account, once. Keys
// are its idempotency key parts (the middleware joins them into one
// claim); Account is its entity lock's key. Both may hold NUL, "/", "#"
// and non-ASCII bytes.
type Event struct {
	ID      string   `json:"id"`
	Account string   `json:"account"`
	Amount  int64    `json:"amount"`
	Keys    []string `json:"keys"`
}

// Output is the handler's output: the event and a nonce of the run that
// made it, so that an answer tells which run it came from.
type Output struct {
	Event string `json:"event"`
	Nonce string `json:"nonce"`
}

// Kill points of a delivery's handler.
const (
	KillBefore = "before" // after the read, before the write
	KillAfter  = "after"  // after the write went through (DynamoDB applied it; its answer may have been lost), before the handler returns
)

// delivery is one delivery sent to a worker (a JSON line on its stdin).
type delivery struct {
	N       int           `json:"n"`
	Event   Event         `json:"event"`
	Path    string        `json:"path"`
	Timeout time.Duration `json:"timeout"`
	Kill    string        `json:"kill,omitempty"`
}

// message is a line a worker writes on its stdout: an answer, or a note
// for the history (a transaction, an extend, a claim's release).
type message struct {
	Answer *answer `json:"a,omitempty"`
	Note   *Line   `json:"note,omitempty"`
}

// answer is a worker's answer to a delivery.
type answer struct {
	N   int     `json:"n"`
	Res string  `json:"res"`           // ResOK, ResDuplicate, ResHeld, ResFailed
	Ran bool    `json:"ran"`           // the handler ran in this delivery
	Out *string `json:"out,omitempty"` // the output the trigger's caller got, as JSON; nil: none
	Err string  `json:"err,omitempty"`
	// NoResult: the error is the middleware's for a completed duplicate
	// without a stored result; Mismatch: lock.ErrPayloadMismatch (HTTP:
	// 422).
	NoResult bool `json:"noResult,omitempty"`
	Mismatch bool `json:"mismatch,omitempty"`
	// Replayed: an HTTP response carried Idempotent-Replayed: true.
	Replayed bool `json:"replayed,omitempty"`
	// Held, HeldUntil and HeldAt name the lock or claim found held, if
	// that is the error, when its holder's lease ends, and when the acquire
	// judged it (lock.HeldError's At).
	Held      string    `json:"held,omitempty"`
	HeldUntil time.Time `json:"heldUntil,omitzero"`
	HeldAt    time.Time `json:"heldAt,omitzero"`
	// Deadline is the invocation's deadline.
	Deadline time.Time `json:"deadline"`
	// Requests are the HTTP requests this delivery sent, by operation.
	Requests map[string]int `json:"requests"`
	// Faults are the worker's faults so far, by kind.
	Faults map[string]int `json:"faults"`
}

// workerConfig is a worker's settings.
type workerConfig struct {
	ID                             int
	Endpoint, LockTable, AppTable  string
	Reserve, Grace, Tolerance      time.Duration
	Wait                           bool // WithOnHeld(Wait), else Fail
	FaultRate, DelayRate, LateRate float64
	MaxDelay, LateMax              time.Duration
	// ExtendRate is the share of handler runs that extend one of their
	// entity leases; LostCompletionRate the share of completing
	// transactions whose every answer is dropped after DynamoDB applied
	// them.
	ExtendRate, LostCompletionRate float64
	// Unsafe is the -unsafe-claims mode ("" for none).
	Unsafe string
	// CompletionExpiry is the lock client's (0: its default).
	CompletionExpiry time.Duration
}

func effectID(event string) string    { return "effect#" + event }
func accountID(account string) string { return "account#" + account }

// payloadOf is the event that ev's trigger carries, which the
// middleware's payload check compares: ev itself, or under -unsafe-claims
// shared the pair's (the events numbered 2k and 2k+1 share its ID and
// key, pairOf, and the driver gives them one account and amount), so that
// the two carry the same bytes. What tells them apart, ev's ID, then
// travels outside every wrapper's payload (withEventID).
func payloadOf(unsafe string, ev Event) Event {
	if unsafe != UnsafeShared {
		return ev
	}
	p := pairOf(ev.ID)
	return Event{ID: p, Account: ev.Account, Amount: ev.Amount, Keys: []string{p}}
}

// pairOf is, under -unsafe-claims shared, the ID and idempotency key of
// the payload of an event: one for the events numbered 2k and 2k+1.
func pairOf(eventID string) string {
	i := strings.LastIndexByte(eventID, '-')
	n, err := strconv.Atoi(eventID[i+1:])
	if i < 0 || err != nil {
		return "pair-" + eventID
	}
	return fmt.Sprintf("pair-%d", n/2)
}

func (d delivery) String() string { return fmt.Sprintf("delivery %d of %s", d.N, d.Event.ID) }
