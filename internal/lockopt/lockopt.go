// Package lockopt holds the settings of one lock call: the client's
// (lock.Config) with the call's options on top. It lives under internal/
// so that the module's own middleware, tests, proofs and benchmarks can set
// what applications never need to (retry steps, release bounds, a simulated
// clock, per-call owners and TTLs), while lock.Option values stay the only
// way applications reach it: a func(*Options) is a lock.Option.
package lockopt

import (
	"errors"
	"time"
)

// Options are the settings of one call. lock resolves them from its Config
// and the call's options; the zero value is not usable.
type Options struct {
	TTL           time.Duration
	Wait          time.Duration
	Owner         string
	Metadata      map[string]string
	Skew          time.Duration // clock-skew tolerance
	Heartbeat     time.Duration
	Retention     time.Duration
	RetryInterval time.Duration
	MaxRetry      time.Duration
	// ReleaseTimeout bounds a release that outlives its caller's context
	// (Do's after fn, the clean-up of an acquire whose answer was lost).
	ReleaseTimeout time.Duration
	// ReleaseBy, if set, is when every such release must have ended;
	// LeaseEnd, if set, when every lease of the call ends. Both by the
	// local monotonic clock.
	ReleaseBy, LeaseEnd time.Time
	// Now is the wall clock written to and compared with lock items.
	Now func() time.Time
	// CompletionExpiry is how long a completed claim answers duplicates.
	CompletionExpiry time.Duration
	// Permits is how many holders each lock ID of the call admits at once
	// (lock.WithPermits); 0 and 1 mean one, the single lease.
	Permits int
	// NoWallTakeover turns off the wall-clock takeover rule, leaving the
	// observed-lease rule alone: for proofs that skew clocks beyond the
	// tolerance (the wall rule is unsafe then), never for applications.
	NoWallTakeover bool
}

// Apply returns o with each of opts applied in turn; nil options are
// skipped. Opts of any func(*Options) type are accepted, lock.Option
// among them.
func Apply[F ~func(*Options)](o Options, opts []F) Options {
	o.Metadata = clone(o.Metadata)
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

func clone(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ErrLeaseTooShort means an attempt with a fixed lease end came too close
// to it: less than twice the clock-skew tolerance was left. The lock wraps
// it in lock.ErrLockAcquisition; the middleware reports it as no time left.
var ErrLeaseTooShort = errors.New("lock: too little time left before the lease's end")

// Setters for the module's own callers. Each returns a func(*Options),
// which is assignable to lock.Option.

// NoWallTakeover turns the wall-clock takeover rule off for the call
// (Options.NoWallTakeover): for proofs only.
func NoWallTakeover() func(*Options) { return func(o *Options) { o.NoWallTakeover = true } }

// TTL sets the lease length of the call.
func TTL(d time.Duration) func(*Options) { return func(o *Options) { o.TTL = d } }

// Owner sets the holder's name of the call.
func Owner(name string) func(*Options) { return func(o *Options) { o.Owner = name } }

// Metadata sets the metadata stored with the call's leases.
func Metadata(m map[string]string) func(*Options) {
	return func(o *Options) { o.Metadata = clone(m) }
}

// Skew sets the clock-skew tolerance of the call.
func Skew(d time.Duration) func(*Options) { return func(o *Options) { o.Skew = d } }

// Heartbeat sets the heartbeat interval of the call (0: none).
func Heartbeat(d time.Duration) func(*Options) { return func(o *Options) { o.Heartbeat = d } }

// Retention sets how long released items are kept before TTL clean-up.
func Retention(d time.Duration) func(*Options) { return func(o *Options) { o.Retention = d } }

// RetryInterval sets a waiter's first wait step and its cap.
func RetryInterval(first, max time.Duration) func(*Options) {
	return func(o *Options) { o.RetryInterval, o.MaxRetry = first, max }
}

// ReleaseTimeout bounds the releases that outlive the caller's context.
func ReleaseTimeout(d time.Duration) func(*Options) {
	return func(o *Options) { o.ReleaseTimeout = d }
}

// ReleaseBy makes every such release end by t.
func ReleaseBy(t time.Time) func(*Options) { return func(o *Options) { o.ReleaseBy = t } }

// Clock sets the wall clock of the call.
func Clock(now func() time.Time) func(*Options) { return func(o *Options) { o.Now = now } }

// CompletionExpiry sets how long the call's completed claims answer
// duplicates.
func CompletionExpiry(d time.Duration) func(*Options) {
	return func(o *Options) { o.CompletionExpiry = d }
}

// MetadataEntry adds key = value to the metadata of the call, keeping the
// entries before it: the middleware tags its entity locks with the claim of
// the event that holds them.
func MetadataEntry(key, value string) func(*Options) {
	return func(o *Options) {
		if o.Metadata == nil {
			o.Metadata = map[string]string{}
		}
		o.Metadata[key] = value
	}
}
