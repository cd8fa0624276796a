// Package driver runs a chaos history: DynamoDB Local, worker processes
// contending for a few locks under injected faults and clock skew, SIGKILLs
// and replacements; then it reads the tables' final state and has the
// history checked.
package driver

import (
	"fmt"
	"io"
	"os/exec"
	"time"
)

// Config is a run's settings. Rates and the fault settings are upper
// bounds: each worker process draws its own below them.
type Config struct {
	// Duration is how long workers contend.
	Duration time.Duration
	// Workers is how many worker processes run at a time.
	Workers int
	// LockIDs are the contended locks.
	LockIDs []string
	// Tolerance is the clock-skew tolerance of every worker; their clocks
	// are offset from the machine's by up to Skew/2 either way.
	Tolerance, Skew time.Duration
	// UnsafeSkew allows Skew beyond the tolerance: the run breaks the
	// lock's assumption, to show that the checker then finds violations.
	UnsafeSkew bool
	// ObservedOnly turns the lock's wall-clock takeover rule off in every
	// worker (lockopt.Options.NoWallTakeover), leaving the observed-lease
	// rule alone, and so allows Skew beyond the tolerance: the rule must
	// hold on clock rates alone. The SQS path, whose lock calls the
	// middleware makes, does not run.
	ObservedOnly bool
	// UnsafeConditions has every worker take out of the lock's requests
	// the conditions that fixed issue 11's bugs 2 and 3, to show that the
	// checker then finds them.
	UnsafeConditions bool
	// TTLMin and TTLMax bound the leases' TTLs.
	TTLMin, TTLMax time.Duration
	// Wait, RetryFirst and RetryMax are the waiters' settings.
	Wait, RetryFirst, RetryMax time.Duration

	// FaultRate and DelayRate bound the share of HTTP requests faulted
	// and delayed (by up to MaxDelay) in each worker.
	FaultRate, DelayRate float64
	MaxDelay             time.Duration
	// SDKAttempts and SDKMaxBackoff configure the workers' SDK retries.
	SDKAttempts   int
	SDKMaxBackoff time.Duration

	// KillEvery is the mean time between SIGKILLs of random workers; zero
	// means none.
	KillEvery time.Duration
	// HeartbeatRate, PauseRate and KillRate bound the shares of sections
	// with a heartbeat, whose holder pauses past its lease, and whose
	// holder asks to be killed mid-section.
	HeartbeatRate, PauseRate, KillRate float64

	// ExtendRate bounds the share of sections whose holder extends its
	// lease itself, shorter or longer than what is left.
	ExtendRate float64
	// DoAllRate, RunRate and SQSRate bound the shares of rounds that call
	// Lock(ids...).Do over overlapping sets of locks, that call
	// Lock(ids...).Acquire (on a context that may be short) and then run
	// and Release as its caller (lock.Run before v0.1), and that hand a synthetic
	// SQS batch to middleware.WrapSQS (records repeating keys, FIFO
	// groups), whose invocations last SQSTimeoutMin to SQSTimeoutMax.
	DoAllRate, RunRate, SQSRate  float64
	SQSTimeoutMin, SQSTimeoutMax time.Duration

	// LateRate bounds the share of lock requests (acquire, release, extend,
	// force) held back for up to LateMax and landed after their caller gave
	// up or the SDK retried (httpfault.LandLate); RetryLateRate the share
	// of retries after a lost answer that land late so. ShortRate bounds
	// the share of acquires (on the Run path), releases, extends and forces
	// whose context or timeout is at most ShortMax, so that they give up
	// on such a request.
	LateRate, RetryLateRate, ShortRate float64
	LateMax, ShortMax                  time.Duration

	// OperatorEvery is the mean time between an operator's force-releases
	// in the two thirds of the workers that run one (each draws up to four
	// times as long); OperatorBurst bounds the share of forces followed by
	// a force of the next holder, and TargetRate the share of lost acquire
	// answers whose lease the operator force-releases during the retry.
	OperatorEvery             time.Duration
	OperatorBurst, TargetRate float64

	// SchedulingSlack is what the checker allows a waiter, beyond one wait
	// step and its requests' worst retries, to take a dead holder's lock;
	// and an SQS batch to return after its deadline.
	SchedulingSlack time.Duration

	// Shape is the lock table's shape (internal/testshape): "" for the
	// seed's table and a ledger table of its own; "shared" for one shared
	// table with custom key names, a sort key and a prefix, where the
	// ledger's items sit beside the lock items, in their partitions.
	Shape string

	// Dir is where the history goes; it must exist and be empty.
	Dir string
	// Endpoint is a running DynamoDB Local to use; empty starts one.
	Endpoint string
	// Command returns the command that starts a worker process; the
	// driver adds the worker's settings to its environment.
	Command func() *exec.Cmd
	// Log, if set, receives progress lines.
	Log io.Writer
}

// Defaults returns the settings of a long run, without Dir and Command.
func Defaults() Config {
	return Config{
		Duration:        3 * time.Minute,
		Workers:         6,
		LockIDs:         []string{"chaos-a", "chaos-b", "chaos-c"},
		Tolerance:       100 * time.Millisecond,
		Skew:            90 * time.Millisecond,
		TTLMin:          300 * time.Millisecond,
		TTLMax:          800 * time.Millisecond,
		Wait:            2 * time.Second,
		RetryFirst:      10 * time.Millisecond,
		RetryMax:        100 * time.Millisecond,
		FaultRate:       0.15,
		DelayRate:       0.2,
		MaxDelay:        30 * time.Millisecond,
		SDKAttempts:     4,
		SDKMaxBackoff:   40 * time.Millisecond,
		KillEvery:       1500 * time.Millisecond,
		HeartbeatRate:   0.2,
		PauseRate:       0.1,
		KillRate:        0.03,
		ExtendRate:      0.15,
		DoAllRate:       0.2,
		RunRate:         0.15,
		SQSRate:         0.25,
		SQSTimeoutMin:   300 * time.Millisecond,
		SQSTimeoutMax:   1200 * time.Millisecond,
		LateRate:        0.04,
		RetryLateRate:   0.5,
		ShortRate:       0.15,
		LateMax:         800 * time.Millisecond,
		ShortMax:        60 * time.Millisecond,
		OperatorEvery:   time.Second,
		OperatorBurst:   0.6,
		TargetRate:      1,
		SchedulingSlack: 300 * time.Millisecond,
	}
}

func (c Config) validate() error {
	switch {
	case c.Duration <= 0 || c.Workers < 2 || len(c.LockIDs) == 0:
		return fmt.Errorf("driver: need a duration, two workers or more and lock IDs")
	case c.Skew >= c.Tolerance && !c.UnsafeSkew && !c.ObservedOnly:
		return fmt.Errorf("driver: clock skew %s must stay within the tolerance %s", c.Skew, c.Tolerance)
	case c.TTLMin <= 3*c.Tolerance/2 || c.TTLMax < c.TTLMin:
		return fmt.Errorf("driver: TTLs %s-%s must exceed 1.5 × the tolerance %s", c.TTLMin, c.TTLMax, c.Tolerance)
	case c.SQSRate > 0 && (c.SQSTimeoutMin < 3*c.Tolerance || c.SQSTimeoutMax < c.SQSTimeoutMin):
		return fmt.Errorf("driver: SQS timeouts %s-%s must exceed 3 × the tolerance %s", c.SQSTimeoutMin, c.SQSTimeoutMax, c.Tolerance)
	case c.Dir == "" || c.Command == nil:
		return fmt.Errorf("driver: need a directory and a worker command")
	}
	return nil
}

// slack is the checker's allowance, beyond one wait step, for a waiter to
// take a dead holder's lock: its request's worst delays and retries, plus
// scheduling.
func (c Config) slack() time.Duration {
	return time.Duration(c.SDKAttempts)*(c.MaxDelay+c.SDKMaxBackoff) + c.SchedulingSlack
}

// maxLease bounds how long any lease of the run may last from its
// holder's last request: a holder's longer Extend, an SQS record's lease
// (the invocation plus the grace, one wait slice more under Wait), and a
// middleware heartbeat's renewal.
func (c Config) maxLease() time.Duration {
	return max(2*c.TTLMax+100*time.Millisecond, 2*c.SQSTimeoutMax+1500*time.Millisecond)
}

// overdueAfter is how long after its deadline a worker waits for an SQS
// batch before it records the batch as overdue.
func (c Config) overdueAfter() time.Duration { return max(2*time.Second, 2*c.SchedulingSlack) }
