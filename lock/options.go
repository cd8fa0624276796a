package lock

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/dynalock/dynalock/internal/lockitem"
	"github.com/dynalock/dynalock/internal/lockopt"
)

// Defaults of what Config leaves zero, in one place; each field's doc
// repeats its default.
const (
	// DefaultTTL is the lease length: the original DynaLock's 60 s.
	DefaultTTL = 60 * time.Second

	// defaultSkew is the clock-skew tolerance (Config.ClockSkewTolerance).
	// Hosts on AWS synchronised by Amazon Time Sync (Lambda, and EC2 by
	// default) are within about 1-2 ms of true time; hosts on public NTP
	// within tens of milliseconds. One second leaves a twenty-fold margin
	// for an operator's laptop or a badly synchronised host sharing the
	// locks, at a cost: a crashed holder's lock is taken over a second
	// later, every lease's working time is a second shorter, and TTLs must
	// be at least two seconds.
	defaultSkew = time.Second

	// defaultRetention is how long a lock's item is kept after its lease or
	// release before DynamoDB's TTL clean-up may delete it. Keeping the
	// item keeps its fencing counter and lets operators see recent holders.
	defaultRetention = lockitem.DefaultRetention

	// defaultCompletionExpiry is how long a completed claim answers its
	// duplicates: a day, longer than SQS's and EventBridge's retries of
	// one event and than a client's retries of one request.
	defaultCompletionExpiry = 24 * time.Hour

	// defaultRetryInterval is the first wait step of a waiter; the step
	// grows by half each attempt up to defaultMaxRetryInterval, and each
	// sleep is jittered between half and all of it.
	defaultRetryInterval = 50 * time.Millisecond

	// defaultMaxRetryInterval caps the wait step, bounding how late a
	// waiter notices a release.
	defaultMaxRetryInterval = 500 * time.Millisecond

	// minRetryInterval is the floor of every sleep between attempts, so a
	// waiter never spins against DynamoDB.
	minRetryInterval = 5 * time.Millisecond

	// minHeartbeatInterval is the shortest heartbeat interval accepted, so
	// a heartbeat never floods DynamoDB with extensions.
	minHeartbeatInterval = 10 * time.Millisecond

	// defaultReleaseTimeout bounds the release that Do runs after fn, on a
	// context that is not cancelled with the caller's.
	defaultReleaseTimeout = 5 * time.Second
)

// WaitForever, passed to WithWait, waits for a held lock until the context
// ends.
const WaitForever = time.Duration(math.MaxInt64)

// options are the settings of one call: the client's, with the call's
// options on top.
type options = lockopt.Options

// Option configures one call: Acquire, Do or Claim.
type Option func(*options)

// WithWait sets how long the call keeps trying a lock that is held,
// bounded also by the context; WaitForever waits until the context ends.
// The default, 0, is a single attempt, as in the original DynaLock.
func WithWait(d time.Duration) Option { return func(o *options) { o.Wait = d } }

// WithLeaseEnd makes every lease of the call end at t instead of the TTL
// after its acquire: each attempt (a waiter's too) computes its TTL from
// t, so a lease taken late in a wait still ends at t, and nothing extends
// it past t: the lease has no heartbeat, and Extend stops at t. An attempt
// with less than twice the clock-skew tolerance left before t fails with
// ErrLockAcquisition, and a wait ends there. The Lambda middleware ends
// every lease at the invocation's deadline plus a grace with it. The
// default, the zero time, is the TTL.
func WithLeaseEnd(t time.Time) Option { return func(o *options) { o.LeaseEnd = t } }

func defaultOptions() options {
	return options{
		TTL:              DefaultTTL,
		Owner:            defaultOwner(),
		Skew:             defaultSkew,
		Retention:        defaultRetention,
		RetryInterval:    defaultRetryInterval,
		MaxRetry:         defaultMaxRetryInterval,
		ReleaseTimeout:   defaultReleaseTimeout,
		Now:              time.Now,
		CompletionExpiry: defaultCompletionExpiry,
	}
}

func with(o options, opts []Option) options { return lockopt.Apply(o, opts) }

func validate(o options) error {
	switch {
	case o.TTL <= 0:
		return invalid("TTL must be positive, got %s", o.TTL)
	case o.TTL%time.Millisecond != 0:
		return invalid("TTL %s has a precision finer than a millisecond", o.TTL)
	case o.Skew < 0:
		return invalid("clock-skew tolerance must not be negative, got %s", o.Skew)
	case o.TTL < minTTL(o.Skew):
		return ttlTooShort(o.TTL, o.Skew)
	case o.Wait < 0:
		return invalid("wait limit must not be negative, got %s", o.Wait)
	case o.Heartbeat < 0 || (o.Heartbeat > 0 && o.Heartbeat < minHeartbeatInterval):
		return invalid("heartbeat interval must be 0 (off) or at least %s, got %s", minHeartbeatInterval, o.Heartbeat)
	case o.Heartbeat > 0 && o.Heartbeat >= o.TTL-o.Skew:
		return invalid("heartbeat interval %s must be shorter than the TTL %s less the clock-skew tolerance %s", o.Heartbeat, o.TTL, o.Skew)
	case o.Retention <= 0:
		return invalid("retention must be positive, got %s", o.Retention)
	case o.RetryInterval <= 0 || o.MaxRetry < o.RetryInterval:
		return invalid("retry intervals must be positive and ordered, got %s and %s", o.RetryInterval, o.MaxRetry)
	case o.ReleaseTimeout <= 0:
		return invalid("release timeout must be positive, got %s", o.ReleaseTimeout)
	case o.CompletionExpiry <= 0:
		return invalid("completion expiry must be positive, got %s", o.CompletionExpiry)
	case o.Owner == "":
		return invalid("owner must not be empty")
	case !utf8.ValidString(o.Owner):
		return invalid("owner %q is not valid UTF-8", o.Owner)
	case o.Now == nil:
		return invalid("clock must not be nil")
	}
	for k, v := range o.Metadata {
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

// minTTL returns the shortest TTL accepted with the clock-skew tolerance
// skew: twice the tolerance, so that a lease leaves the holder at least the
// tolerance of working time (its context ends the tolerance before the
// lease does). A shorter TTL would hand out leases that end before their
// acquire's answer arrives.
func minTTL(skew time.Duration) time.Duration {
	if skew > math.MaxInt64/2 {
		return math.MaxInt64
	}
	return max(2*skew, time.Millisecond)
}

func ttlTooShort(ttl, skew time.Duration) error {
	return invalid("TTL %s is shorter than %s, twice the clock-skew tolerance %s: the holder's context ends the tolerance before the lease does; "+
		"lengthen the TTL or lower the tolerance (Config.TTL, Config.ClockSkewTolerance)", ttl, minTTL(skew), skew)
}

// releaseContext returns the context a release runs on: one that outlives
// ctx's cancellation, bounded by the release timeout and the release
// deadline.
func releaseContext(ctx context.Context, o options) (context.Context, context.CancelFunc) {
	timeout := o.ReleaseTimeout
	if !o.ReleaseBy.IsZero() {
		timeout = max(min(timeout, time.Until(o.ReleaseBy)), time.Millisecond)
	}
	return context.WithTimeout(context.WithoutCancel(ctx), timeout)
}

// forAttempt returns the options of one acquire attempt made now: with
// WithLeaseEnd, the TTL left until the lease's end.
func forAttempt(o options) (options, error) {
	if o.LeaseEnd.IsZero() {
		return o, nil
	}
	o.TTL = ceilMilliDuration(time.Until(o.LeaseEnd))
	if o.TTL < minTTL(o.Skew) {
		return o, fmt.Errorf("%w: %w: %s left before the lease's end, less than %s (twice the clock-skew tolerance)",
			ErrLockAcquisition, lockopt.ErrLeaseTooShort, max(o.TTL, 0), minTTL(o.Skew))
	}
	return o, nil
}

func ceilMilliDuration(d time.Duration) time.Duration {
	if r := d.Truncate(time.Millisecond); r != d && d > 0 {
		return r + time.Millisecond
	}
	return d.Truncate(time.Millisecond)
}

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
