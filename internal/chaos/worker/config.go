// Package worker is one process of a chaos run: it contends for a few
// locks over a faulty connection to DynamoDB, with its own skewed clock,
// and in each critical section writes to the shared ledger with its
// fencing token, recording everything it does for the checker.
package worker

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/dynalock/dynalock/admin"
)

// EnvConfig is the environment variable that carries a worker's Config, as
// JSON, from the driver to the worker process.
const EnvConfig = "DYNALOCK_CHAOS_WORKER"

// Config is one worker process's settings; the driver draws the random
// ones for each process.
type Config struct {
	// ID numbers the worker within the run.
	ID int `json:"id"`
	// Endpoint is DynamoDB Local's URL.
	Endpoint string `json:"endpoint"`
	// LockTable and LedgerTable name the run's tables.
	LockTable   string `json:"lockTable"`
	LedgerTable string `json:"ledgerTable"`
	// Shape is the lock table's shape (internal/testshape): "" for the
	// seed's; "shared" for a shared table that holds the ledger's items
	// beside the locks (LedgerTable is LockTable).
	Shape string `json:"shape,omitempty"`
	// table is the lock table's definition, of Shape (set by Run).
	table admin.TableDefinition
	// LockIDs are the contended locks; each round picks one at random.
	LockIDs []string `json:"lockIds"`
	// History is the path of the worker's history file.
	History string `json:"history"`

	// Offset is how far the worker's lock clock runs ahead of the machine's
	// (negative: behind).
	Offset time.Duration `json:"offset"`
	// Tolerance is the lock's clock-skew tolerance.
	Tolerance time.Duration `json:"tolerance"`
	// TTLMin and TTLMax bound each lease's TTL, drawn per section.
	TTLMin time.Duration `json:"ttlMin"`
	TTLMax time.Duration `json:"ttlMax"`
	// Wait is how long Do waits for a held lock; RetryFirst and RetryMax
	// are the waiter's first and longest wait steps.
	Wait       time.Duration `json:"wait"`
	RetryFirst time.Duration `json:"retryFirst"`
	RetryMax   time.Duration `json:"retryMax"`

	// FaultRate is the share of HTTP requests that fail (a lost response,
	// a reset, a 500 or a throttle, equally likely); DelayRate the share
	// delayed by up to MaxDelay.
	FaultRate float64       `json:"faultRate"`
	DelayRate float64       `json:"delayRate"`
	MaxDelay  time.Duration `json:"maxDelay"`
	// SDKAttempts and SDKMaxBackoff configure the SDK's retries.
	SDKAttempts   int           `json:"sdkAttempts"`
	SDKMaxBackoff time.Duration `json:"sdkMaxBackoff"`

	// HeartbeatRate is the share of sections that run with a heartbeat and
	// may outlast their TTL; PauseRate the share whose holder pauses past
	// its lease and then writes late; KillRate the share in which the
	// holder asks the driver to kill it.
	HeartbeatRate float64 `json:"heartbeatRate"`
	PauseRate     float64 `json:"pauseRate"`
	KillRate      float64 `json:"killRate"`

	// ExtendRate is the share of sections in which the holder calls
	// Extend itself, half of them with a TTL shorter than what is left of
	// the lease, half longer.
	ExtendRate float64 `json:"extendRate"`

	// DoAllRate, RunRate and SQSRate are the shares of rounds that call
	// Lock(ids...).Do over a set of locks, that call Lock(ids...).Acquire
	// (one lock or a set) and then run the section and Release as a caller
	// of Acquire does (what lock.Run did before v0.1), and that hand a
	// synthetic SQS batch to middleware.WrapSQS; the other rounds call
	// Lock(id).Do on one lock.
	DoAllRate float64 `json:"doAllRate"`
	RunRate   float64 `json:"runRate"`
	SQSRate   float64 `json:"sqsRate"`
	// SQSTimeoutMin and SQSTimeoutMax bound a batch's invocation time;
	// OverdueAfter is how long after its deadline the worker gives up
	// waiting for a batch handler (Lambda would have stopped it).
	SQSTimeoutMin time.Duration `json:"sqsTimeoutMin"`
	SQSTimeoutMax time.Duration `json:"sqsTimeoutMax"`
	OverdueAfter  time.Duration `json:"overdueAfter"`

	// LateRate is the share of lock requests (acquire, release, extend,
	// force) held back for up to LateMax and then landed detached from
	// their caller (httpfault.LandLate); RetryLateRate the share of retries
	// after a lost answer that land late so.
	LateRate      float64       `json:"lateRate"`
	RetryLateRate float64       `json:"retryLateRate"`
	LateMax       time.Duration `json:"lateMax"`
	// ShortRate is the share of acquires (of the Acquire path), releases and
	// extends given a context (or release timeout) of at most ShortMax, so
	// that a request landing late is abandoned by its caller.
	ShortRate float64       `json:"shortRate"`
	ShortMax  time.Duration `json:"shortMax"`

	// OperatorEvery is the mean time between the worker's operator's
	// force-releases of a random lock (zero: no operator). The operator
	// reads the lock's item (admin.Read) over its own faulty
	// connection and, if its lease is not released, force-releases it with
	// the lease and token it read (admin.ForceReleaseInput), as `dynalock
	// release --token` does. OperatorBurst is the share of its forces
	// after which it waits for the next holder and forces that one too;
	// TargetRate the share of acquires whose answer is lost that the
	// operator force-releases while the SDK's retry is held back.
	OperatorEvery time.Duration `json:"operatorEvery"`
	OperatorBurst float64       `json:"operatorBurst"`
	TargetRate    float64       `json:"targetRate"`

	// UnsafeConditions takes out of the lock's requests the parts of their
	// conditions that fixed issue 11's bugs 2 and 3 (a retried acquire
	// matching its own released lease; an extend moving the stored end
	// earlier), to show that the checker then finds violations.
	UnsafeConditions bool `json:"unsafeConditions,omitempty"`
	// ObservedOnly turns the wall-clock takeover rule off in every lock
	// call (lockopt.Options.NoWallTakeover): only the observed-lease rule
	// takes a lapsed lease over.
	ObservedOnly bool `json:"observedOnly,omitempty"`
}

// Encode returns c as the value of EnvConfig.
func (c Config) Encode() string {
	b, _ := json.Marshal(c) // a struct of plain fields always marshals
	return string(b)
}

// Decode parses the value of EnvConfig.
func Decode(s string) (Config, error) {
	var c Config
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return c, fmt.Errorf("worker: %s: %w", EnvConfig, err)
	}
	if len(c.LockIDs) == 0 || c.History == "" || c.Endpoint == "" || c.TTLMin <= c.Tolerance || c.TTLMax < c.TTLMin {
		return c, fmt.Errorf("worker: %s: incomplete or inconsistent settings: %s", EnvConfig, s)
	}
	return c, nil
}
