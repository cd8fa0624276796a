package once

import (
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// Config sizes a run. Defaults returns the one make chaos runs.
type Config struct {
	// Events is how many events are delivered, each 1 to MaxCopies times,
	// spread over Duration.
	Events    int
	MaxCopies int
	Duration  time.Duration
	// Accounts is how many entities the events share (their lock keys):
	// few, so that deliveries of different events contend too.
	Accounts int
	// Workers is how many worker processes run at a time.
	Workers int
	// Timeout is each delivery's invocation deadline; Reserve, Grace and
	// Tolerance are the middleware's and the lock's.
	Timeout, Reserve, Grace, Tolerance time.Duration
	// ConcurrentRate, LostRate and KillRate are the shares of copies sent
	// at the same time as the first, sent while the first runs as if its
	// answer were lost, and of events (evenly spread) whose first copy's
	// worker is SIGKILLed mid-handler, before or after its write in turn,
	// in the first of its deliveries that gets there; such an
	// event's other copies come after its first was acknowledged. Other
	// copies come after the first finished.
	ConcurrentRate, LostRate, KillRate float64
	// FaultRate is the share of HTTP requests faulted (dropped response,
	// reset, 500, throttled), DelayRate the share delayed by up to
	// MaxDelay, LateRate the share of writes that land up to LateMax late,
	// detached from their caller.
	FaultRate, DelayRate, LateRate float64
	MaxDelay, LateMax              time.Duration
	// Retry is the redelivery delay of a failed delivery (SQS's visibility
	// timeout, Lambda's retry), jittered; MaxAttempts bounds one copy's
	// deliveries, and MismatchAttempts those of a copy refused with
	// ErrPayloadMismatch, which no retry changes (a queue would move it to
	// its dead-letter queue).
	Retry                         time.Duration
	MaxAttempts, MismatchAttempts int
	// Paths are the delivery paths events take (PathWrap, PathSQS, ...;
	// see paths.go), one per event, at random.
	Paths []string
	// OddKeys gives every fifth event an idempotency key, and the
	// accounts keys, with NUL, "/", "#" and non-ASCII bytes (four accounts
	// differ only by where a NUL sits). NULPairs makes every 30th event and
	// the next a pair whose idempotency keys differ only by where a NUL
	// sits (["k\x00", "t"] and ["k", "\x00t"]; ["k\x00t"] and ["k", "t"]):
	// two events, which must never share a claim.
	OddKeys, NULPairs bool
	// CompletionExpiry is the workers' lock clients' CompletionExpiry
	// (lock.Config; 0: the default, 24 h, as long as the lock items'
	// retention), which the middleware's claims take.
	CompletionExpiry time.Duration
	// ExtendRate is the share of handler runs that extend one of their
	// entity leases (whose end the middleware fixed at the deadline plus
	// the grace), asking for the lease's TTL, a little, or much more.
	ExtendRate float64
	// LostCompletionRate is the share of completing transactions whose
	// every answer is dropped after DynamoDB applied them: the handler
	// fails, the middleware releases the claim, and the next delivery must
	// still be answered from the store.
	LostCompletionRate float64
	// Unsafe, if set, breaks a condition the proof relies on
	// (UnsafeReacquire, UnsafeShared): the check must then fail.
	Unsafe string
	// History is the file the history is written to; it must not exist.
	// Empty: a new file in the system's temporary directory, kept.
	History string
	// Endpoint is a DynamoDB Local to use; empty starts one.
	Endpoint string
	// Command starts a worker process (the binary, with EnvWorker set).
	Command func() *exec.Cmd
	// Log receives progress lines; nil discards them. WorkerLog receives
	// the workers' own warnings (the middleware's JSON log); nil discards
	// them.
	Log, WorkerLog io.Writer
}

// Defaults returns make chaos's run: 1500 events over 90 s.
func Defaults() Config {
	return Config{
		Events: 1500, MaxCopies: 5, Duration: 90 * time.Second, Accounts: 12, Workers: 6,
		Timeout: 3 * time.Second, Reserve: 300 * time.Millisecond, Grace: 300 * time.Millisecond, Tolerance: 150 * time.Millisecond,
		ConcurrentRate: 0.3, LostRate: 0.25, KillRate: 0.04,
		FaultRate: 0.1, DelayRate: 0.2, LateRate: 0.03, MaxDelay: 30 * time.Millisecond, LateMax: 400 * time.Millisecond,
		Retry: 300 * time.Millisecond, MaxAttempts: 200, MismatchAttempts: 3,
		Paths: PathNames(), OddKeys: true, NULPairs: true, ExtendRate: 0.1, LostCompletionRate: 0.05,
	}
}

// Short returns the run make test does: 150 events over 15 s (6 of them
// with a kill, 3 before the write and 3 after).
func Short() Config {
	c := Defaults()
	c.Events, c.Duration, c.Workers = 150, 15*time.Second, 4
	return c
}

func (c Config) validate() error {
	switch {
	case c.Events < 1 || c.MaxCopies < 1 || c.Accounts < 1 || c.Workers < 1 || c.MaxAttempts < 1:
		return fmt.Errorf("once: events, copies, accounts, workers and attempts must be at least 1")
	case c.Command == nil:
		return fmt.Errorf("once: no worker command")
	case c.Timeout <= c.Reserve || c.Tolerance <= 0:
		return fmt.Errorf("once: the timeout must exceed the reserve, and the tolerance be positive")
	case len(c.Paths) == 0:
		return fmt.Errorf("once: no delivery path")
	case c.Unsafe != "" && c.Unsafe != UnsafeReacquire && c.Unsafe != UnsafeShared:
		return fmt.Errorf("once: unknown -unsafe-claims mode %q (%s or %s)", c.Unsafe, UnsafeReacquire, UnsafeShared)
	}
	for _, p := range c.Paths {
		if _, ok := pathByName(p); !ok {
			return fmt.Errorf("once: unknown delivery path %q (known: %s)", p, strings.Join(PathNames(), ", "))
		}
	}
	return nil
}

// The -unsafe-claims modes: each breaks one condition the proof relies
// on, so that its check must fail, and by the rule named.
const (
	// UnsafeReacquire takes out of every claim's acquire the condition that
	// its claim was not completed (lock: "AND NOT (#done > :now)"): a
	// duplicate after a completion takes the claim again and runs the
	// handler again. Caught by RuleAtMostOnce (and RuleSameOutput).
	UnsafeReacquire = "reacquire"
	// UnsafeShared gives the events numbered 2k and 2k+1 one idempotency
	// key, so one claim ID (as a claim-ID collision, or a key that does not
	// identify the event, would), and one payload: their triggers carry the
	// same bytes (the pair's ID and key, and one account and amount, which
	// the driver gives both), and the event's own ID, which names its
	// effect and output, travels outside every wrapper's payload, in the
	// invocation's Lambda client context (as an SQS message attribute or
	// an HTTP header would, outside the body and the request fingerprint).
	// The v0.1 middleware always checks the payload, which is the same:
	// the second of a pair is answered with the first's completion, and
	// its own effect never happens. Caught by RuleSharedClaim (and
	// balance). v0.0's mode shared the key only, with the payload check
	// off; that check can no longer be turned off, and would refuse the
	// second (lost-event) instead of answering it wrongly.
	UnsafeShared = "shared"
)

// lease is the longest a delivery's lease lasts: its deadline plus the
// grace.
func (c Config) lease() time.Duration { return c.Timeout + c.Grace }
