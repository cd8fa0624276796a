package once

import (
	"fmt"
	"io"
	"os/exec"
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
	// answer were lost, and of first deliveries whose worker is SIGKILLed
	// mid-handler (before or after its write). Other copies come after the
	// first finished.
	ConcurrentRate, LostRate, KillRate float64
	// FaultRate is the share of HTTP requests faulted (dropped response,
	// reset, 500, throttled), DelayRate the share delayed by up to
	// MaxDelay, LateRate the share of writes that land up to LateMax late,
	// detached from their caller.
	FaultRate, DelayRate, LateRate float64
	MaxDelay, LateMax              time.Duration
	// Retry is the redelivery delay of a failed delivery (SQS's visibility
	// timeout, Lambda's retry), jittered; MaxAttempts bounds one copy's
	// deliveries.
	Retry       time.Duration
	MaxAttempts int
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
		Retry: 300 * time.Millisecond, MaxAttempts: 200,
	}
}

// Short returns the run make test does: 150 events over 15 s.
func Short() Config {
	c := Defaults()
	c.Events, c.Duration, c.Workers, c.KillRate = 150, 15*time.Second, 4, 0.08
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
	}
	return nil
}

// lease is the longest a delivery's lease lasts: its deadline plus the
// grace.
func (c Config) lease() time.Duration { return c.Timeout + c.Grace }
