package history

import "time"

// Run is what the checker needs to know of a run's settings.
type Run struct {
	// LockIDs are the contended locks.
	LockIDs []string `json:"lockIds"`
	// Tolerance is every worker's clock-skew tolerance.
	Tolerance time.Duration `json:"tolerance"`
	// TTLMin and TTLMax bound the leases' TTLs.
	TTLMin time.Duration `json:"ttlMin"`
	TTLMax time.Duration `json:"ttlMax"`
	// MaxDelay is the longest latency injected into a request.
	MaxDelay time.Duration `json:"maxDelay"`
	// LateMax is the longest a request was held back before it landed
	// late (httpfault.LandLate).
	LateMax time.Duration `json:"lateMax,omitempty"`
	// RetryMax is the waiters' longest wait step.
	RetryMax time.Duration `json:"retryMax"`
	// Slack is what a waiter may take, beyond one wait step, to notice
	// that a dead holder's lease ended: requests slowed or retried by the
	// injected faults, and scheduling on a busy machine.
	Slack time.Duration `json:"slack"`
	// BatchSlack is how long after its deadline an SQS batch may return
	// (scheduling on a busy machine) before it counts as outliving it.
	BatchSlack time.Duration `json:"batchSlack,omitempty"`
	// Duration is how long workers ran.
	Duration time.Duration `json:"duration"`
	// ObservedOnly: the workers took lapsed leases over by the
	// observed-lease rule alone (no wall-clock rule), with clocks that
	// may be further apart than the tolerance.
	ObservedOnly bool `json:"observedOnly,omitempty"`
}

// History is a whole run, folded from its files.
type History struct {
	Run      Run
	Workers  map[int]*Worker
	Sections []*Section
	Calls    []*Call
	Grants   []Grant
	// Forces are the operators' force-releases, in no particular order.
	Forces []*Force
	// Batches are the SQS batches handed to the middleware.
	Batches []*Batch
	// Sightings are the lock items seen in answers (acquires, refusals,
	// the operators' reads, the final read): who held each lock when.
	Sightings []Sighting
	// SelfRefused are releases refused although the item in the refusal
	// still held their own lease, not released: the holder cannot free its
	// lock, which stays held until the lease ends.
	SelfRefused []Grant
	// Requests counts HTTP requests to DynamoDB by operation.
	Requests map[string]int
	// LockRequests counts the HTTP requests to the lock table by lock
	// operation (Op*): every attempt the SDK made, retries included.
	LockRequests map[string]int
	// Faults counts injected faults by kind; "delay" counts added latency.
	Faults map[string]int
	// LateLanded counts lock requests held back and landed late
	// (httpfault.LandLate), by lock operation.
	LateLanded map[string]int
	// Stalls are, by worker, the spans in which the process did not run
	// (a 20 ms ticker saw a gap of more than 100 ms).
	Stalls map[int][]Span
	// LateAcquires are, by worker, when acquire requests were sent that
	// were held back and landed late.
	LateAcquires map[int][]time.Time
	// LockOps counts the lock client's UpdateItem calls by "op/result",
	// such as "acquire/refused".
	LockOps map[string]int
	// Ledger counts the sections' ledger reads and writes by result.
	LedgerOps map[string]int
	Final     Final
	// Problems are records that did not make sense; the checker reports
	// them as violations.
	Problems []string

	// Evidence gathered from every lock item seen, by lock ID and lease ID.
	forcedSeen   map[LeaseKey]bool // the item named the lease ForcedLease
	releasedSeen map[LeaseKey]bool // the item named the lease ReleasedLease and not ForcedLease
	requests     map[LeaseKey]*leaseRequests
	stored       map[LeaseKey][]StoredEnd
	forceSent    map[leaseToken]*Force // the first force request sent for a lease
}

// LeaseKey names one lock ID's share of a lease. A lease ID is not unique
// to a lock: since v0.1 a lease of several lock IDs (Lock(ids...).Acquire
// or Do, an SQS record with several keys) holds them all under one lease
// ID, each with its own token and its own item, which may each be
// released, force-released or taken over on its own. Everything the
// history knows of a lease is known per lock ID.
type LeaseKey struct{ Lock, Lease string }

// leaseToken names one acquisition of a lease ID on a lock.
type leaseToken struct {
	lock, lease string
	token       int64
}

// leaseRequests sums up the lock client's HTTP requests for one lease.
type leaseRequests struct {
	maxExp    int64 // the latest stored end asked for, Unix ms by the holder's clock
	maxExtend int64 // the same, of extends only
	last      time.Time
}

// Worker is one worker process.
type Worker struct {
	ID     int
	PID    int
	Offset time.Duration // its clock's offset from the machine's
	// Spawned and Ended are when the process started and was reaped.
	Spawned, Ended time.Time
	// KilledAt is when the driver sent SIGKILL, if it did; KillReason is
	// "random" or "requested" (the worker asked, mid-section).
	KilledAt   time.Time
	KillReason string
	// TermedAt is when the driver asked it to stop (SIGTERM), if it did.
	TermedAt time.Time
	ExitCode int
}

// Killed reports whether the driver killed the worker.
func (w *Worker) Killed() bool { return !w.KilledAt.IsZero() }

// Section is one lock ID's critical section under a lease, from fn's
// start to its end. The fn of a lease of several lock IDs (Lock(ids...).Do
// or Acquire, an SQS record's handler under several locks) is one section
// per lock ID, all with the lease's one lease ID.
type Section struct {
	Worker int
	// Call is the call that took the lease, numbered within the worker;
	// Path says how (Path*).
	Call  int
	Path  string
	Lock  string
	Lease string
	Token int64
	// Enter is when fn began; Deadline is the lease's Deadline() when fn
	// returned, or else (the holder died first) when fn began: a
	// heartbeat or an Extend may have moved it since.
	Enter, Deadline time.Time
	// CtxDeadline is the deadline of fn's context at entry: the lease's
	// deadline (the earliest of a lease of several lock IDs), or the SQS invocation's less
	// the reserve; zero with a heartbeat, whose context has none.
	CtxDeadline time.Time
	// CtxDone is when fn's context ended while fn was running (its
	// deadline came, a heartbeat found the lease lost, or the lock cut it
	// short); zero if it did not.
	CtxDone time.Time
	// ExpiresAt is the lease's end as stored, by the holder's clock.
	ExpiresAt time.Time
	TTL       time.Duration
	Heartbeat bool
	// Void is true when the lease was past its deadline on arrival: the
	// holder did nothing.
	Void bool
	// End is when the holder last acted: fn's return, the start of a
	// pause, its request to be killed, or its death. EndBy says which:
	// "exit", "pause", "killme" or "kill".
	End   time.Time
	EndBy string
	// Gone is when the holder could act no more: fn's return (after a
	// pause, its end), or the process's death. A holder that paused or
	// asked to be killed has not left its section: until Gone its context
	// runs on, and it may act again.
	Gone time.Time
	// Zombie is true when the holder paused past its lease and then wrote
	// late (Late).
	Zombie bool
	Write  *Write
	Late   *Write
	// Extends are the holder's own Extend calls on this lease.
	Extends []*Extend
	// Release is Do's result for this lease: ResultReleased, ResultLost,
	// ResultReleaseError, or "" when the holder died first (or its SQS
	// batch never returned); Done is when Do (or the batch) returned.
	Release    string
	ReleaseErr string
	Done       time.Time
	// Batch and Msg name the SQS batch and record of a PathSQS section.
	Batch int
	Msg   string

	// Granted is the acquire answer that handed the lease out, if seen.
	Granted *Grant
	// Forced is the earliest force-release of this lease that may have
	// gone through, if one did: it was acknowledged, or an item later
	// named the lease as force-released.
	Forced *Force
	// ReleasedByHolder is true when an item named the lease as released
	// and not as force-released: the holder's own release went through.
	ReleasedByHolder bool
	// MaxExp is the latest stored end (by the holder's clock) that any of
	// the holder's requests for this lease asked for: its acquire, its
	// extends (the heartbeat's too), whatever their outcome.
	MaxExp time.Time
	// MaxExtendExp is the latest stored end any of its extends asked for.
	MaxExtendExp time.Time
	// LastRequest is when the holder's last HTTP request for this lease
	// was sent.
	LastRequest time.Time
	// Stored are the lease ends that the lock client's requests for this
	// lease stored, as far as their answers tell: its acquire's and its
	// extends' (the heartbeat's too) that went through, in the order their
	// answers came.
	Stored []StoredEnd
}

// StoredEnd is a lease end that an acquire or extend request stored.
type StoredEnd struct {
	// Op is OpAcquire or OpExtend.
	Op string
	// Sent is when the lock client sent the request (the first of the
	// SDK's attempts), At when its answer came: the item held End from
	// some moment between the two.
	Sent, At time.Time
	// End is the lease end stored, by the holder's clock.
	End time.Time
}

// Crashed reports whether the holder died before Do returned.
func (s *Section) Crashed() bool { return s.Release == "" && s.EndBy == "kill" }

// Shortened reports whether the holder asked to move its lease's end
// earlier than it was, by an Extend with less than the time left.
func (s *Section) Shortened() bool {
	for _, x := range s.Extends {
		if x.Shorter {
			return true
		}
	}
	return false
}

// Write is one fenced ledger write.
type Write struct {
	Start, End time.Time
	Result     string
}

// Extend is one of the holder's own Extend calls.
type Extend struct {
	Start, End time.Time
	TTL        time.Duration
	// Shorter is true when TTL was less than the time left of the lease
	// (to its end, by the holder's local deadline plus the tolerance).
	Shorter bool
	// Short is true when the call's context was shorter than the requests
	// it may send take.
	Short bool
	// Result is ResultOK, ResultLost, ResultInvalid or ResultError.
	Result string
	Err    string
	// Before and After are the lease's Deadline() before and after.
	Before, After time.Time
}

// Call is one Do or Acquire call, or an SQS record's handler, from
// its start until the locks were acquired, the call gave up, or the worker
// died.
type Call struct {
	Worker int
	ID     int
	Path   string
	Locks  []string
	// Short is true when the call's context was short (the acquire was
	// likely to be abandoned).
	Short      bool
	Start, End time.Time
	// Result is "acquired", ResultHeld, ResultAcquireError or "killed".
	Result string
	Err    string
}

// Grant is an acquire request that went through, as its sender saw it.
type Grant struct {
	Worker int
	Lock   string
	Lease  string
	Token  int64
	At     time.Time
	// Released and Forced are what the answer's item said of the lease
	// itself: released, and released by an operator.
	Released, Forced bool
}

// Force is one of the operators' force-releases: the lease and token the
// operator read, and the conditional write it sent (with the SDK's
// retries, over a faulty connection).
type Force struct {
	Worker     int
	Lock       string
	Lease      string
	Token      int64
	Start, End time.Time
	// Result is ResultOK, ResultRefused or ResultError.
	Result string
	Err    string
	// Landed is true when the force went through: acknowledged, or an
	// item seen later named the lease as force-released.
	Landed bool
}

// Span is a span of time.
type Span struct{ Start, End time.Time }

// Sighting is a lock item seen in an answer: the lock was at lease with
// token at At or a little earlier.
type Sighting struct {
	Lock  string
	Lease string
	Token int64
	At    time.Time
}

// Batch is one SQS batch handed to the middleware's WrapSQS handler.
type Batch struct {
	Worker int
	ID     int
	// Start is when the handler was called; Deadline the invocation's.
	Start, Deadline time.Time
	Records         []Record
	FIFO            bool
	Grace, Reserve  time.Duration
	Policy          string
	Heartbeat       bool
	// End is when the handler returned (Result ResultReturned) or when
	// the worker stopped waiting for it (ResultOverdue); zero if the
	// worker died first.
	End      time.Time
	Result   string
	Err      string
	Failures []string
	// Logs are the middleware's log lines about failed records and failed
	// releases.
	Logs []RecLog
}

// RecLog is one of the middleware's log lines about a record.
type RecLog struct {
	At      time.Time
	Msg     string
	Message string
	Err     string
	Locks   []string
	// Invalid is true when the logged error matched lock.ErrInvalidInput.
	Invalid bool
}

// Final is the tables' state after every worker stopped and every lease
// had ended.
type Final struct {
	At      time.Time              `json:"at"`
	Locks   map[string]LockState   `json:"locks"`
	Ledgers map[string]LedgerState `json:"ledgers"`
}

// LockState is a lock's item at the end.
type LockState struct {
	Exists    bool      `json:"exists"`
	LeaseID   string    `json:"leaseId"`
	Token     int64     `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	Released  bool      `json:"released"`
	// RelLease and ForcedLease are the item's ReleasedLease and
	// ForcedLease: the last lease released, and the last force-released.
	RelLease    string `json:"relLease,omitempty"`
	ForcedLease string `json:"forcedLease,omitempty"`
}

// LedgerState is a lock's ledger item at the end.
type LedgerState struct {
	// Writes counts the sections' writes: each read it and wrote it plus one.
	Writes int64 `json:"writes"`
	// Late counts paused holders' writes that the fence let through.
	Late      int64   `json:"late"`
	LastToken int64   `json:"lastToken"`
	Log       []int64 `json:"log"`
}
