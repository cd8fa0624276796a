package once

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// The history of a run is one file of JSON lines, one Line each, which the
// driver writes as the run goes (the workers' notes reach it through their
// standard output) and, at the end, with what it read from the tables.
// Check judges a run from this file alone (Load, Check; `once -check
// FILE`), so anyone can judge a recorded run again, or a history written
// by hand.
//
// Times ("t", "until", "heldAt", "deadline") are Unix nanoseconds of the
// machine's wall clock, which the driver and its workers share; stored
// lease ends and completion times ("end", "fixedEnd", "expires",
// "doneUntil", "completedAt", "cleanup") are Unix milliseconds, as the lock
// stores them. Strings are exact: keys with NUL, "/", "#" or non-ASCII
// bytes are JSON strings (NUL is \u0000), and "hex" spells their bytes.
// Lines are in the order the driver learned of them, not by "t".
const (
	// LineRun is the first line: the run's settings ("run").
	LineRun = "run"
	// LineEvent is one planned event: "ev", "account", "amount", "keys" and
	// "hex" (its idempotency key parts, and their bytes in hex), "path"
	// (its delivery path), "copies" (each copy's kind, the first's first),
	// "kill" (its first copy's kill point, if any), "pair" (the event whose
	// keys differ from its own only by where a NUL sits, if any).
	LineEvent = "event"
	// LineDelivery is one delivery handed to a worker: "n", "ev", "copy"
	// (the copy's index in the event's "copies"), "kind", "attempt" (from
	// 0), "w", "path", "keys" and "hex" as the delivery carries them,
	// "claim" (the claim ID the middleware derives from the keys its
	// trigger carries, for the run's "scope": admin.ClaimID), "kill" (a
	// kill point, if the worker is to be killed in this delivery's
	// handler), "t" (when it was handed over).
	LineDelivery = "delivery"
	// LineAnswer is a worker's answer to delivery "n" of "ev" by worker
	// "w": "res" (ResOK, ResDuplicate, ResHeld, ResFailed), "ran" (the
	// handler ran in this delivery), "out" (the output the trigger's
	// caller got, as JSON; absent for paths that return none, such as
	// SQS; for WrapHTTP, which since v0.1 stores and replays the whole
	// response, the response's JSON less its Idempotent-Replayed header),
	// "replayed" (an HTTP response carried Idempotent-Replayed: true),
	// "err", "held" (the lock or claim found held), "until" (its
	// holder's lease end as the error reported it), "heldAt" (when the
	// acquire judged it held: lock.HeldError's At), "noResult" (the error
	// is the middleware's for a completed duplicate without a stored
	// result), "mismatch" (lock.ErrPayloadMismatch; HTTP 422),
	// "deadline" (the invocation's deadline), "req" (HTTP requests this
	// delivery sent, by operation), "faults" (the worker's faults so far,
	// by kind), "t" (when the driver got it).
	LineAnswer = "answer"
	// LineTxn is a transaction a handler sent, noted by its worker before
	// the first send (so a SIGKILL right after cannot lose it): "n", "ev",
	// "w", "nonce" (its run's nonce, which the effect item records),
	// "claim" and "lease" (the claim the transaction completes and the
	// claim's lease ID; none if it completes none), "result" (the result
	// the completion stores, exactly), "locks" (the entity locks whose
	// leases it releases, lock.Lease.Complete, or checks), "lostAnswer"
	// (every answer to it is dropped after
	// DynamoDB applied it: a lost completion answer, which the handler
	// then sees as a failure and the middleware follows with a release),
	// "t".
	LineTxn = "txn"
	// LineExtend is one extend request of a lease (the handler's
	// Lease.Extend of the lease the middleware took, whose end is fixed at
	// the invocation's deadline plus the grace; since v0.1 the claim and
	// the entity locks are one lease, extended as one, a request and a
	// line per lock ID, the claim's too): "n", "ev", "w", "lock",
	// "lease", "ask" (the TTL asked, milliseconds; 0 asks for the lease's
	// own TTL), "end" (the lease end the request sets, Unix ms), "fixedEnd"
	// (the deadline plus the grace, Unix ms), "res" (ResOK, ResRefused, or
	// ResError: unknown, it may have gone through), "t".
	LineExtend = "extend"
	// LineRelease is one release (or completion) request of a claim: "n",
	// "ev", "w", "claim", "lease", "op" (OpRelease or OpComplete), "res",
	// "afterLost" (the same lease's completing transaction lost every
	// answer first), "t".
	LineRelease = "release"
	// LineKill is a delivery's handler killed by SIGKILL: "w" (the
	// worker), "t" (when the signal was sent), "n" and "ev" (the delivery
	// whose handler asked for it), "kill" (the point: KillBefore its
	// write, or KillAfter DynamoDB applied it, whether or not its answer
	// came back), "inflight" (every delivery the worker had in flight then;
	// those not answered died with it). Two handlers of one worker asking
	// at once share one signal and have a line each.
	LineKill = "kill"
	// LineEffect is an event's effect item as read from the application
	// table at the end: "ev", "count" (how many times it was applied),
	// "writes" (each application: the nonce of the run that wrote it, its
	// delivery "n" and worker "w", as the item records them, and the
	// "claim" and "lease" of the transaction with that nonce, from its
	// LineTxn). Events without an effect item have no such line.
	LineEffect = "effect"
	// LineStored is a claim's record as read from the lock table at the
	// end: "claim", "lease" (its last lease), "completedLease",
	// "completedAt", "doneUntil", "result" (the stored result, exactly;
	// absent if none), "payload" (hash), "released", "expires" (the last
	// lease's end), "cleanup" (the item's TTL, Unix ms), "heldNow" (held
	// at the time of reading, "t").
	LineStored = "stored"
	// LineLock is an entity lock's record at the end: "lock", "lease",
	// "released", "expires", "heldNow", "t".
	LineLock = "lock"
	// LineBalance is an account's balance at the end: "account", "balance".
	LineBalance = "balance"
	// LineEnd is the last line: the run ended and every final line above
	// was written ("t"). A history without it was cut short.
	LineEnd = "end"
)

// Answers' results.
const (
	ResOK        = "ok"        // the handler ran and succeeded: acknowledged
	ResDuplicate = "duplicate" // answered from the store as a duplicate of a completed event, without running: acknowledged
	ResHeld      = "held"      // refused: a lock or the claim was held (the policy Fail, or Wait gave up)
	ResFailed    = "failed"    // any other failure: a fault, no time, the handler's error, a payload mismatch
	ResRefused   = "refused"   // an extend's or release's condition failed
	ResError     = "error"     // an extend or release without an answer: it may have gone through
)

// Claim operations in LineRelease.
const (
	OpRelease  = "release"
	OpComplete = "complete"
)

// Line is one line of a history file; Kind says which fields it uses (see
// the Line* constants).
type Line struct {
	Kind string   `json:"k"`
	Time int64    `json:"t,omitempty"`
	Run  *RunInfo `json:"run,omitempty"`

	Event   string   `json:"ev,omitempty"`
	N       int      `json:"n,omitempty"`
	Worker  int      `json:"w,omitempty"`
	Path    string   `json:"path,omitempty"`
	Account string   `json:"account,omitempty"`
	Amount  int64    `json:"amount,omitempty"`
	Keys    []string `json:"keys,omitempty"`
	Hex     []string `json:"hex,omitempty"`
	Copies  []string `json:"copies,omitempty"`
	Pair    string   `json:"pair,omitempty"`
	Copy    int      `json:"copy,omitempty"`
	CopyOf  string   `json:"kind,omitempty"`
	Attempt int      `json:"attempt,omitempty"`
	Claim   string   `json:"claim,omitempty"`
	Kill    string   `json:"kill,omitempty"`

	Res      string         `json:"res,omitempty"`
	Ran      bool           `json:"ran,omitempty"`
	Out      *string        `json:"out,omitempty"`
	Err      string         `json:"err,omitempty"`
	Held     string         `json:"held,omitempty"`
	Until    int64          `json:"until,omitempty"`
	HeldAt   int64          `json:"heldAt,omitempty"`
	NoResult bool           `json:"noResult,omitempty"`
	Mismatch bool           `json:"mismatch,omitempty"`
	Replayed bool           `json:"replayed,omitempty"`
	Deadline int64          `json:"deadline,omitempty"`
	Requests map[string]int `json:"req,omitempty"`
	Faults   map[string]int `json:"faults,omitempty"`

	Nonce      string   `json:"nonce,omitempty"`
	Lease      string   `json:"lease,omitempty"`
	Result     *string  `json:"result,omitempty"`
	Locks      []string `json:"locks,omitempty"`
	LostAnswer bool     `json:"lostAnswer,omitempty"`

	Lock     string `json:"lock,omitempty"`
	Ask      int64  `json:"ask,omitempty"`
	End      int64  `json:"end,omitempty"`
	FixedEnd int64  `json:"fixedEnd,omitempty"`

	Op        string `json:"op,omitempty"`
	AfterLost bool   `json:"afterLost,omitempty"`

	Inflight []int `json:"inflight,omitempty"`

	Count  int64   `json:"count,omitempty"`
	Writes []Write `json:"writes,omitempty"`

	CompletedLease string `json:"completedLease,omitempty"`
	CompletedAt    int64  `json:"completedAt,omitempty"`
	DoneUntil      int64  `json:"doneUntil,omitempty"`
	Payload        string `json:"payload,omitempty"`
	Released       bool   `json:"released,omitempty"`
	Expires        int64  `json:"expires,omitempty"`
	Cleanup        int64  `json:"cleanup,omitempty"`
	HeldNow        bool   `json:"heldNow,omitempty"`

	Balance int64 `json:"balance,omitempty"`
}

// Write is one application of an event's effect, as its item records it,
// with the claim its transaction completed.
type Write struct {
	Nonce  string `json:"nonce"`
	N      int    `json:"n"`
	Worker int    `json:"w"`
	Claim  string `json:"claim,omitempty"`
	Lease  string `json:"lease,omitempty"`
}

// RunInfo is the run's settings, as far as the check needs them.
type RunInfo struct {
	Events    int      `json:"events"`
	Paths     []string `json:"paths"`
	Namespace string   `json:"namespace"`
	// Scope is the workers' function name (AWS_LAMBDA_FUNCTION_NAME),
	// which the middleware hashes into every claim ID.
	Scope    string `json:"scope,omitempty"`
	OddKeys  bool   `json:"oddKeys,omitempty"`
	NULPairs bool   `json:"nulPairs,omitempty"`
	// Unsafe is the -unsafe-claims mode, if any: the run breaks a
	// condition the proof relies on, and its check must fail.
	Unsafe string `json:"unsafe,omitempty"`
	// The invocation deadline's timeout, the middleware's reserve and
	// grace, and the clock-skew tolerance, in milliseconds.
	TimeoutMs   int64 `json:"timeoutMs"`
	ReserveMs   int64 `json:"reserveMs"`
	GraceMs     int64 `json:"graceMs"`
	ToleranceMs int64 `json:"toleranceMs"`
	// CompletionExpiryMs is the workers' lock clients' CompletionExpiry
	// (0: the default).
	CompletionExpiryMs int64 `json:"completionExpiryMs,omitempty"`
	// ExtendRate and LostCompletionRate: the shares of handler runs that
	// extend a lease, and of completing transactions that lose every
	// answer.
	ExtendRate         float64 `json:"extendRate,omitempty"`
	LostCompletionRate float64 `json:"lostCompletionRate,omitempty"`
	LockTable          string  `json:"lockTable,omitempty"`
	AppTable           string  `json:"appTable,omitempty"`
	Start              int64   `json:"start"`
}

func (r RunInfo) timeout() time.Duration   { return time.Duration(r.TimeoutMs) * time.Millisecond }
func (r RunInfo) grace() time.Duration     { return time.Duration(r.GraceMs) * time.Millisecond }
func (r RunInfo) tolerance() time.Duration { return time.Duration(r.ToleranceMs) * time.Millisecond }

func hexKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%x", k)
	}
	return out
}

func strp(s string) *string { return &s }

// recorder appends lines to a history file, one write each, safe for
// concurrent use. The first failure is kept.
type recorder struct {
	mu  sync.Mutex // protects f and err
	f   *os.File
	err error
}

func createHistory(path string) (*recorder, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("once: history: %w", err)
	}
	return &recorder{f: f}, nil
}

func (r *recorder) record(l Line) {
	if l.Time == 0 && l.Kind != LineEffect && l.Kind != LineBalance && l.Kind != LineEvent {
		l.Time = time.Now().UnixNano()
	}
	b, err := json.Marshal(l)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	if err != nil {
		r.err = fmt.Errorf("once: history: %w", err)
		return
	}
	if _, err := r.f.Write(append(b, '\n')); err != nil {
		r.err = fmt.Errorf("once: history: %w", err)
	}
}

func (r *recorder) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.err, r.f.Close())
}

// History is a run's history file, read.
type History struct {
	Run   RunInfo
	Lines []Line
	// Complete: the file ends with LineEnd.
	Complete bool
}

// Load reads a history file. A last line without its newline (a write cut
// short) is dropped; any other line that does not parse is an error.
func Load(path string) (*History, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("once: %w", err)
	}
	return Parse(b)
}

// Parse reads a history from its bytes, as Load does.
func Parse(b []byte) (*History, error) {
	h := &History{}
	if i := bytes.LastIndexByte(b, '\n'); i < len(b)-1 {
		b = b[:i+1] // a last line cut short
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 8<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("once: history line %d: %w", n, err)
		}
		switch l.Kind {
		case LineRun:
			if l.Run != nil {
				h.Run = *l.Run
			}
		case LineEnd:
			h.Complete = true
		}
		h.Lines = append(h.Lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("once: history: %w", err)
	}
	if len(h.Lines) == 0 || h.Lines[0].Kind != LineRun {
		return nil, errors.New("once: history: the first line is not the run's settings")
	}
	return h, nil
}
