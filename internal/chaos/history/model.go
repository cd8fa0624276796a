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
	// RetryMax is the waiters' longest wait step.
	RetryMax time.Duration `json:"retryMax"`
	// Slack is what a waiter may take, beyond one wait step, to notice
	// that a dead holder's lease ended: requests slowed or retried by the
	// injected faults, and scheduling on a busy machine.
	Slack time.Duration `json:"slack"`
	// Duration is how long workers ran.
	Duration time.Duration `json:"duration"`
}

// History is a whole run, folded from its files.
type History struct {
	Run      Run
	Workers  map[int]*Worker
	Sections []*Section
	Calls    []*Call
	Grants   []Grant
	// Requests counts HTTP requests to DynamoDB by operation.
	Requests map[string]int
	// Faults counts injected faults by kind; "delay" counts added latency.
	Faults map[string]int
	// LockOps counts the lock client's UpdateItem calls by "op/result",
	// such as "acquire/refused".
	LockOps map[string]int
	// Ledger counts the sections' ledger reads and writes by result.
	LedgerOps map[string]int
	Final     Final
	// Problems are records that did not make sense; the checker reports
	// them as violations.
	Problems []string
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
	ExitCode   int
}

// Killed reports whether the driver killed the worker.
func (w *Worker) Killed() bool { return !w.KilledAt.IsZero() }

// Section is one lease's critical section, from fn's start to its end.
type Section struct {
	Worker int
	Lock   string
	Lease  string
	Token  int64
	// Enter is when fn began; Deadline is the lease's Deadline() when fn
	// returned, or else (the holder died first) when fn began: a
	// heartbeat may have moved it since.
	Enter, Deadline time.Time
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
	// Zombie is true when the holder paused past its lease and then wrote
	// late (Late).
	Zombie bool
	Write  *Write
	Late   *Write
	// Release is Do's result: ResultReleased, ResultLost,
	// ResultReleaseError, or "" when the holder died first; Done is when
	// Do returned.
	Release string
	Done    time.Time
}

// Crashed reports whether the holder died before Do returned.
func (s *Section) Crashed() bool { return s.Release == "" }

// Write is one fenced ledger write.
type Write struct {
	Start, End time.Time
	Result     string
}

// Call is one Do call, from its start until the lock was acquired, Do gave
// up, or the worker died.
type Call struct {
	Worker     int
	Lock       string
	Start, End time.Time
	// Result is "acquired", ResultHeld, ResultAcquireError or "killed".
	Result string
}

// Grant is an acquire request that went through, as its sender saw it.
type Grant struct {
	Worker int
	Lock   string
	Lease  string
	Token  int64
	At     time.Time
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
