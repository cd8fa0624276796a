package once

import (
	"fmt"
	"time"
)

// EnvWorker holds a worker's settings (JSON); a binary that finds it set
// runs WorkerMain.
const EnvWorker = "DYNALOCK_ONCE_WORKER"

// killLine, then a delivery number, is how a worker asks to be SIGKILLed
// in the middle of that delivery's handler.
const killLine = "KILL "

// Event is what is delivered: a credit of Amount to Account, once.
type Event struct {
	ID      string `json:"id"`
	Account string `json:"account"`
	Amount  int64  `json:"amount"`
}

// Output is the handler's output: the event and a nonce of the run that
// made it, so that an answer tells which run it came from.
type Output struct {
	Event string `json:"event"`
	Nonce string `json:"nonce"`
}

// Kill points of a delivery's handler.
const (
	killBefore = "before" // after the read, before the write
	killAfter  = "after"  // after the write, before the handler returns
)

// delivery is one delivery sent to a worker (a JSON line on its stdin).
type delivery struct {
	N       int           `json:"n"`
	Event   Event         `json:"event"`
	Timeout time.Duration `json:"timeout"`
	Kill    string        `json:"kill,omitempty"`
}

// answer is a worker's answer to a delivery (a JSON line on its stdout).
type answer struct {
	N   int    `json:"n"`
	Ran bool   `json:"ran"` // the handler ran in this delivery
	Out Output `json:"out"`
	Err string `json:"err,omitempty"`
	// NoResult: the error is middleware.ErrNoResult.
	NoResult bool `json:"noResult,omitempty"`
	// Held, HeldUntil and HeldAt name the lock or claim found held, if
	// that is the error, when its holder's lease ends, and when the acquire
	// judged it (lock.HeldError's At).
	Held      string    `json:"held,omitempty"`
	HeldUntil time.Time `json:"heldUntil,omitzero"`
	HeldAt    time.Time `json:"heldAt,omitzero"`
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
	Wait                           bool // OnHeld(Wait), else Fail
	FaultRate, DelayRate, LateRate float64
	MaxDelay, LateMax              time.Duration
}

func effectID(event string) string    { return "effect#" + event }
func accountID(account string) string { return "account#" + account }

func (d delivery) String() string { return fmt.Sprintf("delivery %d of %s", d.N, d.Event.ID) }
