package lock

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
	"unicode/utf8"
)

// Defaults, in one place. Each option's doc repeats its default.
const (
	// DefaultTTL is the lease length: the original DynaLock's 60 s.
	DefaultTTL = 60 * time.Second

	// DefaultClockSkewTolerance is how far apart the holders' clocks may be.
	// A holder's context ends this long before its lease does, and a waiter
	// takes a lease over only this long after it ended. Hosts on AWS
	// synchronised by Amazon Time Sync (Lambda, and EC2 by default) are
	// within about 1-2 ms of true time; hosts on public NTP within tens of
	// milliseconds. One second leaves a twenty-fold margin for an operator's
	// laptop or a badly synchronised host sharing the locks, at a cost: a
	// crashed holder's lock is taken over a second later, every lease's
	// working time is a second shorter, and TTLs must be at least two
	// seconds (MinTTL). A fleet that runs only on AWS can lower it with
	// WithClockSkewTolerance (100 ms still leaves a fifty-fold margin).
	DefaultClockSkewTolerance = time.Second

	// DefaultRetention is how long a lock's item is kept after its lease or
	// release before DynamoDB's TTL clean-up may delete it. Keeping the item
	// keeps its fencing counter and lets operators see recent holders.
	DefaultRetention = 24 * time.Hour

	// DefaultRetryInterval is the first wait step of a waiter; the step
	// grows by half each attempt up to DefaultMaxRetryInterval, and each
	// sleep is jittered between half and all of it.
	DefaultRetryInterval = 50 * time.Millisecond

	// DefaultMaxRetryInterval caps the wait step, bounding how late a
	// waiter notices a release.
	DefaultMaxRetryInterval = 500 * time.Millisecond

	// MinRetryInterval is the floor of every sleep between attempts, so a
	// waiter never spins against DynamoDB.
	MinRetryInterval = 5 * time.Millisecond

	// MinHeartbeatInterval is the shortest heartbeat interval accepted, so
	// a heartbeat never floods DynamoDB with extensions.
	MinHeartbeatInterval = 10 * time.Millisecond

	// DefaultReleaseTimeout bounds the release that Do runs after fn, on a
	// context that is not cancelled with the caller's.
	DefaultReleaseTimeout = 5 * time.Second
)

// WaitForever, passed to WithWait, waits for a held lock until the context
// ends.
const WaitForever = time.Duration(math.MaxInt64)

// Option configures a Client, or one call of it. Options given to a call
// apply on top of the Client's.
type Option func(*options)

type options struct {
	ttl            time.Duration
	wait           time.Duration
	owner          string
	metadata       map[string]string
	skew           time.Duration
	heartbeat      time.Duration
	retention      time.Duration
	retryInterval  time.Duration
	maxRetry       time.Duration
	releaseTimeout time.Duration
	// releaseBy, if set, is when every release must have ended
	// (WithReleaseDeadline); leaseEnd, if set, when every lease ends
	// (WithLeaseEnd). Both by the local monotonic clock.
	releaseBy, leaseEnd time.Time
	clock               Clock
	// completionExpiry is how long a completed claim answers duplicates.
	completionExpiry time.Duration
}

func defaultOptions() options {
	return options{
		ttl:            DefaultTTL,
		owner:          defaultOwner(),
		skew:           DefaultClockSkewTolerance,
		retention:      DefaultRetention,
		retryInterval:  DefaultRetryInterval,
		maxRetry:       DefaultMaxRetryInterval,
		releaseTimeout: DefaultReleaseTimeout,
		clock:          systemClock{},

		completionExpiry: DefaultCompletionExpiry,
	}
}

func (o options) with(opts []Option) options {
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

func (o options) validate() error {
	switch {
	case o.ttl <= 0:
		return invalid("TTL must be positive, got %s", o.ttl)
	case o.ttl%time.Millisecond != 0:
		return invalid("TTL %s has a precision finer than a millisecond", o.ttl)
	case o.skew < 0:
		return invalid("clock-skew tolerance must not be negative, got %s", o.skew)
	case o.ttl < MinTTL(o.skew):
		return ttlTooShort(o.ttl, o.skew)
	case o.wait < 0:
		return invalid("wait limit must not be negative, got %s", o.wait)
	case o.heartbeat < 0 || (o.heartbeat > 0 && o.heartbeat < MinHeartbeatInterval):
		return invalid("heartbeat interval must be 0 (off) or at least %s, got %s", MinHeartbeatInterval, o.heartbeat)
	case o.heartbeat > 0 && !o.leaseEnd.IsZero():
		return invalid("a heartbeat would extend a lease past its end (WithLeaseEnd): use one or the other")
	case o.heartbeat > 0 && o.heartbeat >= o.ttl-o.skew:
		return invalid("heartbeat interval %s must be shorter than the TTL %s less the clock-skew tolerance %s", o.heartbeat, o.ttl, o.skew)
	case o.retention <= 0:
		return invalid("retention must be positive, got %s", o.retention)
	case o.retryInterval <= 0 || o.maxRetry < o.retryInterval:
		return invalid("retry intervals must be positive and ordered, got %s and %s", o.retryInterval, o.maxRetry)
	case o.releaseTimeout <= 0:
		return invalid("release timeout must be positive, got %s", o.releaseTimeout)
	case o.completionExpiry <= 0:
		return invalid("completion expiry must be positive, got %s", o.completionExpiry)
	case o.owner == "":
		return invalid("owner must not be empty")
	case !utf8.ValidString(o.owner):
		return invalid("owner %q is not valid UTF-8", o.owner)
	case o.clock == nil:
		return invalid("clock must not be nil")
	}
	for k, v := range o.metadata {
		switch {
		case k == "":
			return invalid("metadata keys must not be empty")
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			// DynamoDB would store U+FFFD in place of the bad bytes, and two
			// keys could become one.
			return invalid("metadata %q: %q is not valid UTF-8", k, v)
		}
	}
	return nil
}

// MinTTL returns the shortest TTL accepted with the clock-skew tolerance
// skew: twice the tolerance, so that a lease leaves the holder at least the
// tolerance of working time (its context ends the tolerance before the
// lease does). A shorter TTL would hand out leases that end before their
// acquire's answer arrives.
func MinTTL(skew time.Duration) time.Duration {
	if skew > math.MaxInt64/2 {
		return math.MaxInt64
	}
	return max(2*skew, time.Millisecond)
}

func ttlTooShort(ttl, skew time.Duration) error {
	return invalid("TTL %s is shorter than %s, twice the clock-skew tolerance %s: the holder's context ends the tolerance before the lease does; "+
		"lengthen the TTL (WithTTL) or lower the tolerance (WithClockSkewTolerance)", ttl, MinTTL(skew), skew)
}

// WithTTL sets the lease length: how long the lock stays held if its holder
// neither releases nor extends it. The default is DefaultTTL, 60 s. It must
// be whole milliseconds and at least MinTTL: twice the clock-skew
// tolerance, 2 s by default.
func WithTTL(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// WithWait sets how long Acquire and Do keep trying a lock that is held,
// bounded also by the context; WaitForever waits until the context ends.
// The default, 0, is a single attempt, as in the original DynaLock.
func WithWait(d time.Duration) Option { return func(o *options) { o.wait = d } }

// WithOwner names the holder in the lock's item, for operators and for
// HeldError. The default is the Lambda function's name and log stream, or
// else the host name and process ID.
func WithOwner(name string) Option { return func(o *options) { o.owner = name } }

// WithMetadata stores m in the lock's item while it is held (attribute
// Metadata), replacing the metadata of options before it. A refused
// acquire's HeldError carries its holder's. The default is none.
func WithMetadata(m map[string]string) Option {
	return func(o *options) {
		o.metadata = make(map[string]string, len(m))
		for k, v := range m {
			o.metadata[k] = v
		}
	}
}

// WithMetadataEntry adds key = value to the metadata stored in the lock's
// item (WithMetadata), keeping the entries set before it: for a library
// that tags its locks on top of its caller's metadata.
func WithMetadataEntry(key, value string) Option {
	return func(o *options) {
		m := make(map[string]string, len(o.metadata)+1)
		for k, v := range o.metadata {
			m[k] = v
		}
		m[key] = value
		o.metadata = m
	}
}

// WithClockSkewTolerance sets how far apart the holders' clocks may be. The
// default is DefaultClockSkewTolerance, 1 s. Larger is safer against skew;
// it shortens a holder's working time and delays the takeover of a crashed
// holder's lock by as much.
func WithClockSkewTolerance(d time.Duration) Option { return func(o *options) { o.skew = d } }

// WithHeartbeat makes Do extend the lease every interval while fn runs, so
// fn may run longer than the TTL. If an extension finds the lock lost, or
// none succeeds before the lease ends (less the clock-skew tolerance), fn's
// context is cancelled with ErrLockLost as its cause. The default, 0, is no
// heartbeat: the TTL bounds fn. A third of the TTL is a good interval; it
// must be at least MinHeartbeatInterval.
func WithHeartbeat(interval time.Duration) Option { return func(o *options) { o.heartbeat = interval } }

// WithRetention sets how long an item is kept after its lease ends or it is
// released, before DynamoDB's TTL clean-up may delete it. The default is
// DefaultRetention, 24 h. Fencing tokens stay increasing across a deletion
// as long as the holders' clocks differ by less than this.
func WithRetention(d time.Duration) Option { return func(o *options) { o.retention = d } }

// WithRetryInterval sets a waiter's first wait step and its cap. The
// defaults are DefaultRetryInterval, 50 ms, and DefaultMaxRetryInterval,
// 500 ms.
func WithRetryInterval(first, max time.Duration) Option {
	return func(o *options) { o.retryInterval, o.maxRetry = first, max }
}

// WithReleaseTimeout bounds the release that Do runs after fn, and the
// clean-up after an acquire whose outcome is unknown. The default is
// DefaultReleaseTimeout, 5 s.
func WithReleaseTimeout(d time.Duration) Option { return func(o *options) { o.releaseTimeout = d } }

// WithCompletionExpiry sets how long a claim completed by Lease.Complete
// (or Write with AndComplete) answers its duplicates: after it, Claim lets
// the work run again. The default is DefaultCompletionExpiry, 24 h. It is
// compared with the stored completion time, never left to DynamoDB's TTL.
func WithCompletionExpiry(d time.Duration) Option { return func(o *options) { o.completionExpiry = d } }

// WithReleaseDeadline makes every release of the call's leases end by t,
// sooner than the release timeout if need be: Do's and Run's release after
// fn, AcquireAll's release of the leases it got when another was held, and
// the clean-up after an acquire whose answer was lost. For callers that
// must return by a deadline, such as a Lambda handler: a release cut short
// leaves a lease that ends by itself. The default, the zero time, is no
// deadline but the release timeout.
func WithReleaseDeadline(t time.Time) Option { return func(o *options) { o.releaseBy = t } }

// WithLeaseEnd makes every lease of the call end at t instead of the TTL
// after its acquire: each attempt (a waiter's too) computes its TTL from t,
// so a lease taken late in a wait still ends at t. An attempt with less
// than MinTTL left before t fails with ErrLeaseTooShort, and a wait ends
// there. Such a lease is never extended past t: it cannot be combined
// with a heartbeat, and Lease.Extend refuses, with ErrInvalidInput and
// before any request, an extension that would end after t. For callers
// whose lease must end by a time, such as a Lambda invocation's deadline
// plus a grace. The default, the zero time, is the TTL.
func WithLeaseEnd(t time.Time) Option { return func(o *options) { o.leaseEnd = t } }

// releaseContext returns the context a release runs on: one that outlives
// ctx's cancellation, bounded by the release timeout and the release
// deadline.
func (o options) releaseContext(ctx context.Context) (context.Context, context.CancelFunc) {
	now := time.Now()
	end := now.Add(o.releaseTimeout)
	if !o.releaseBy.IsZero() && o.releaseBy.Before(end) {
		// At the release deadline itself, not a duration computed from
		// an earlier reading of the clock; at least a millisecond.
		end = later(o.releaseBy, now.Add(time.Millisecond))
	}
	return context.WithDeadline(context.WithoutCancel(ctx), end)
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// forAttempt returns the options of one acquire attempt made now: with
// WithLeaseEnd, the TTL left until the lease's end.
func (o options) forAttempt() (options, error) {
	if o.leaseEnd.IsZero() {
		return o, nil
	}
	o.ttl = ceilMilliDuration(time.Until(o.leaseEnd))
	if o.ttl < MinTTL(o.skew) {
		return o, fmt.Errorf("%w: %w: %s left before the lease's end, less than %s (twice the clock-skew tolerance)",
			ErrLockAcquisition, ErrLeaseTooShort, max(o.ttl, 0), MinTTL(o.skew))
	}
	return o, nil
}

func ceilMilliDuration(d time.Duration) time.Duration {
	if r := d.Truncate(time.Millisecond); r != d && d > 0 {
		return r + time.Millisecond
	}
	return d.Truncate(time.Millisecond)
}

// WithClock sets the clock that lease ends, expiry checks and token seeds
// are read from. The default is the system clock; tests use it to skew
// holders' clocks.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// Clock tells the wall-clock time written to and compared with lock items.
// Local timers (context deadlines, heartbeats) use the process's monotonic
// clock whatever the Clock says.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func defaultOwner() string {
	if fn := os.Getenv("AWS_LAMBDA_FUNCTION_NAME"); fn != "" {
		if stream := os.Getenv("AWS_LAMBDA_LOG_STREAM_NAME"); stream != "" {
			return fn + "/" + stream
		}
		return fn
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return host + ":" + strconv.Itoa(os.Getpid())
}

func hostName() string {
	h, _ := os.Hostname()
	return h
}
