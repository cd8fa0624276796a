// Package history is the record of a chaos run: each worker process writes
// what it did as JSON lines to a file of its own, the driver writes what it
// did to another, and Load folds them, with the tables' final state, into
// one History for the checker.
package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Event kinds written by workers.
const (
	KindWorker   = "worker"   // a worker's first line: its settings
	KindCall     = "call"     // Do or Acquire was called, or an SQS record's handler began: the worker wants the locks
	KindEnter    = "enter"    // fn (or the record's handler) began: one lock ID of the call's lease is held
	KindWrite    = "write"    // the section's fenced ledger write returned
	KindExtend   = "extend"   // the holder's own Extend of its lease returned (one per lock ID of the lease)
	KindCtxDone  = "ctxdone"  // the section's context ended while the section was running
	KindPause    = "pause"    // the holder stops, as in a long GC pause or a frozen sandbox, and will ignore its deadline
	KindLate     = "late"     // the paused holder's fenced ledger write, after the pause
	KindKillMe   = "killme"   // the holder asked the driver to kill it and does nothing more
	KindExit     = "exit"     // fn returned: the section ended (one per lock ID)
	KindDone     = "done"     // Do (or the release after Acquire) returned (one per lock ID if fn ran, else one for the call)
	KindLockOp   = "lockop"   // one UpdateItem call of the lock client returned
	KindHTTP     = "http"     // one HTTP request to DynamoDB, faulted or not
	KindRead     = "read"     // the operator read a lock's item
	KindForce    = "force"    // the operator's force-release returned
	KindBatch    = "batch"    // an SQS batch was handed to the middleware
	KindBatchEnd = "batchend" // the middleware returned the batch's response, or the batch outlived its deadline
	KindRecLog   = "reclog"   // the middleware logged a record's failure or a failed release
	KindStall    = "stall"    // the worker process did not run from Start to Time (a ticker's gap)
)

// Paths: how a call took its locks.
const (
	PathDo    = "do"    // Client.Lock(id).Do on one lock
	PathDoAll = "doall" // Client.Lock(ids...).Do over a set of locks (v0.0: Client.DoAll)
	PathRun   = "run"   // Client.Lock(ids...).Acquire, one lock or a set, with a context that may be short, then fn and Release by the caller (v0.0: Acquire or AcquireAll, then lock.Run)
	PathSQS   = "sqs"   // middleware.WrapSQS, one record
)

// Lock operations, as the HTTP layer classifies lock-table requests.
const (
	OpAcquire = "acquire"
	OpRelease = "release"
	OpExtend  = "extend"
	OpForce   = "force" // the operator's admin.ForceReleaseInput
	OpRead    = "read"  // the operator's admin.Read, or a waiter's read between its writes
)

// Event kinds written by the driver.
const (
	KindRun   = "run"   // the driver's first line: the run's settings
	KindSpawn = "spawn" // a worker process started
	KindKill  = "kill"  // the driver sent a worker SIGKILL
	KindTerm  = "term"  // the driver sent a worker SIGTERM: stop, the run is over
	KindEnd   = "end"   // a worker process ended
)

// Results of writes, lock operations and Do calls.
const (
	ResultOK      = "ok"      // a write or lock operation went through
	ResultRefused = "refused" // its condition failed: fenced off, or the lock held
	ResultError   = "error"   // no answer or an error: the outcome is unknown
	ResultSkipped = "skipped" // the write was not sent (its read failed, or the deadline came first)

	ResultReleased     = "released"      // Do released the lock
	ResultLost         = "lost"          // Do found the lease taken over when releasing
	ResultReleaseError = "release-error" // Do's release failed; the lease expires by itself
	ResultHeld         = "held"          // Do gave up waiting for a held lock
	ResultAcquireError = "acquire-error" // Do could not ask DynamoDB

	ResultInvalid = "invalid" // an Extend was refused as invalid input
	ResultMissing = "missing" // the operator found no item

	ResultReturned = "returned" // the batch handler returned
	ResultOverdue  = "overdue"  // the batch handler had not returned well after its deadline
)

// Event is one line of a history file. Times are Unix nanoseconds of the
// machine's wall clock, which every process on it shares; ExpiresAt is as
// stored in the lock's item, by the holder's (skewed) clock, in Unix
// milliseconds.
type Event struct {
	Kind      string `json:"k"`
	Time      int64  `json:"t"`
	Worker    int    `json:"w,omitempty"`
	Lock      string `json:"lock,omitempty"`
	Lease     string `json:"lease,omitempty"`
	Token     int64  `json:"tok,omitempty"`
	Start     int64  `json:"start,omitempty"`
	Deadline  int64  `json:"dl,omitempty"`
	ExpiresAt int64  `json:"exp,omitempty"`
	TTL       int64  `json:"ttl,omitempty"` // milliseconds
	Heartbeat bool   `json:"hb,omitempty"`
	Void      bool   `json:"void,omitempty"`
	Op        string `json:"op,omitempty"`
	Result    string `json:"res,omitempty"`
	Err       string `json:"err,omitempty"`
	Fault     string `json:"fault,omitempty"`
	Delayed   bool   `json:"delayed,omitempty"`
	PID       int    `json:"pid,omitempty"`
	Offset    int64  `json:"off,omitempty"` // clock offset, nanoseconds
	Code      int    `json:"code,omitempty"`
	Reason    string `json:"why,omitempty"`
	Run       *Run   `json:"run,omitempty"`

	Call     int      `json:"c,omitempty"`     // the call, numbered within its worker
	Locks    []string `json:"locks,omitempty"` // a call's lock IDs
	Path     string   `json:"path,omitempty"`  // Path*
	CtxDl    int64    `json:"cdl,omitempty"`   // the section's context deadline at entry, if any
	RelLease string   `json:"rl,omitempty"`    // the item's ReleasedLease
	Forced   string   `json:"fl,omitempty"`    // the item's ForcedLease
	LockOp   string   `json:"lop,omitempty"`   // an HTTP request's lock operation (Op*), or "ledger"
	LateMs   int64    `json:"late,omitempty"`  // an HTTP request held back and landed late by this much
	Short    bool     `json:"short,omitempty"` // the caller's context (or release timeout) was short
	Batch    int      `json:"b,omitempty"`     // an SQS batch, numbered within its worker
	Msg      string   `json:"msg,omitempty"`   // an SQS message ID
	Records  []Record `json:"recs,omitempty"`  // a batch's records
	Failures []string `json:"fails,omitempty"` // a batch's BatchItemFailures
	FIFO     bool     `json:"fifo,omitempty"`
	GraceMs  int64    `json:"grace,omitempty"`
	Reserve  int64    `json:"reserve,omitempty"` // milliseconds
	Policy   string   `json:"policy,omitempty"`
	Invalid  bool     `json:"inv,omitempty"`     // a logged error matched lock.ErrInvalidInput
	Before   int64    `json:"dl0,omitempty"`     // an Extend's lease deadline before it
	Shorter  bool     `json:"shorter,omitempty"` // an Extend asked for less than the time left
	Req      string   `json:"req,omitempty"`     // a lock call's own lease ID (Lease is the item's)
	// ReqExp is, on a lockop event of an acquire or an extend, the lease
	// end the request asked to store (its :exp), in Unix milliseconds by
	// the holder's clock; ExpiresAt is the end in the answer's item, and an
	// extend's answer has none. With Result ResultOK the item now holds it.
	ReqExp int64 `json:"rexp,omitempty"`
}

// Record is one SQS record of a batch as the worker built it.
type Record struct {
	ID    string   `json:"id"`
	Keys  []string `json:"keys"`
	Group string   `json:"g,omitempty"`
}

// Nanos returns t as an event time.
func Nanos(t time.Time) int64 { return t.UnixNano() }

// Recorder appends events to a history file, one write per event, so a
// process killed at any moment leaves every event it recorded before. It
// is safe for concurrent use.
type Recorder struct {
	mu  sync.Mutex // protects f and err
	f   *os.File
	err error
}

// Create creates the history file at path, failing if it exists.
func Create(path string) (*Recorder, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return &Recorder{f: f}, nil
}

// Record appends e, stamping its time if it has none. The first failure is
// kept and returned by Err and Close.
func (r *Recorder) Record(e Event) {
	if e.Time == 0 {
		e.Time = Nanos(time.Now())
	}
	b, err := json.Marshal(e)
	if err != nil {
		r.fail(err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	if _, err := r.f.Write(append(b, '\n')); err != nil {
		r.err = fmt.Errorf("history: %w", err)
	}
}

func (r *Recorder) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = fmt.Errorf("history: %w", err)
	}
}

// Err returns the first failure to record an event.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Close closes the file and returns the first failure, if any.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.err, r.f.Close())
}
