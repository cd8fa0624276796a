package middleware

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/dynalock/dynalock/lock"
)

// Defaults, in one place. Each option's doc repeats its default.
const (
	// defaultConcurrency is how many SQS records run at once: the largest
	// batch of a standard queue without a batching window, so such a batch
	// takes all its locks in one round trip of wall time.
	defaultConcurrency = 10

	// defaultReserve is how long before the invocation's deadline the
	// handler's context ends. It bounds the release that follows (one
	// DynamoDB write, milliseconds in-region) and leaves the runtime time
	// to report the result.
	defaultReserve = 500 * time.Millisecond

	// defaultGrace is how long a lease outlasts the invocation's deadline.
	// Lambda stops the invocation at its deadline, so the grace only covers
	// the difference between Lambda's timer and the clock the lease is
	// written with; a killed invocation's lock frees itself this long (plus
	// the lock's clock-skew tolerance) after the kill.
	defaultGrace = time.Second

	// localReleaseTimeout bounds the release after the handler of an
	// invocation without a deadline (a local run); with a deadline the
	// reserve bounds it, so a handler that stops when its context ends has
	// its locks released before the deadline.
	localReleaseTimeout = 5 * time.Second

	// waitSlice is how long the Wait policy keeps trying with one lease
	// length before it computes the lease from the deadline again; it
	// bounds how far a lease taken after a wait outlasts the deadline plus
	// the grace.
	waitSlice = time.Second
)

// maxSpan bounds the reserve, the least time left and the grace.
const maxSpan = 24 * time.Hour

// HeldPolicy says what to do with an event whose lock another invocation
// holds.
type HeldPolicy int

const (
	// Fail reports the event as failed: its SQS record goes to the batch
	// item failures; any other invocation returns an error matching
	// lock.ErrLockAlreadyAcquired, so Lambda, SQS or EventBridge retries.
	Fail HeldPolicy = iota
	// Skip acknowledges the event without running the handler, and logs
	// it: for overlapping schedule runs and duplicate deliveries.
	Skip
	// Wait waits for the lock within the invocation's remaining time less
	// the reserve (and less WithMinTimeLeft), then fails as Fail does, with
	// an error that also matches ErrNoTime.
	Wait
)

// String returns the policy's name.
func (p HeldPolicy) String() string {
	switch p {
	case Fail:
		return "fail"
	case Skip:
		return "skip"
	case Wait:
		return "wait"
	}
	return fmt.Sprintf("HeldPolicy(%d)", int(p))
}

// Option configures a wrapper: Wrap, WrapNoOutput, WrapSQS, WrapHTTP,
// WrapKinesis or WrapDynamoDBStream. No option is accepted and then
// ignored: one that a wrapper cannot apply (WithConcurrency and
// WithVisibilityBackoff outside WrapSQS, WithOnHeld(Skip) with WrapHTTP)
// makes the wrapper return an error matching lock.ErrInvalidInput when it
// is built.
type Option func(*options)

type options struct {
	held           HeldPolicy
	namespace      string
	namespaceSet   bool // WithNamespace was given: there is no default
	concurrency    int
	concurrencySet bool // WithConcurrency was given: only WrapSQS takes it
	reserve        time.Duration
	minTimeLeft    time.Duration
	logger         *slog.Logger
	metrics        io.Writer
	runUnkeyed     bool
	disabled       bool
	idem           *idempotency    // WithIdempotency; nil without
	backoff        *backoffOptions // WithVisibilityBackoff; nil without
	permits        int             // WithPermits: handlers at once per key
	permitsSet     bool
}

func defaultOptions() options {
	return options{
		held:        Fail,
		concurrency: defaultConcurrency,
		reserve:     defaultReserve,
	}
}

func newOptions(opts []Option) options {
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewJSONHandler(os.Stdout, nil))
	}
	return o
}

// validate reports options that cannot work. Wrap and WrapSQS check them
// once; the wrapped handler returns the error on every call. Without locks
// (WithDisabled) no namespace is needed.
func (o options) validate() error {
	switch {
	case !o.namespaceSet && !o.disabled:
		return fmt.Errorf("%w: %s", lock.ErrInvalidInput, noNamespace)
	case o.held < Fail || o.held > Wait:
		return fmt.Errorf("%w: unknown held policy %d", lock.ErrInvalidInput, int(o.held))
	case o.concurrency < 1:
		return fmt.Errorf("%w: concurrency must be at least 1, got %d", lock.ErrInvalidInput, o.concurrency)
	case o.reserve < 0 || o.minTimeLeft < 0:
		return fmt.Errorf("%w: reserve and least time left must not be negative", lock.ErrInvalidInput)
	case o.reserve > maxSpan || o.minTimeLeft > maxSpan:
		// Lambda's longest invocation is 15 minutes; beyond a day the sums
		// with the deadline could overflow.
		return fmt.Errorf("%w: reserve and least time left must be at most %s", lock.ErrInvalidInput, maxSpan)
	}
	if err := o.checkPermits(); err != nil {
		return err
	}
	return o.backoff.validate()
}

// wrapperKind is what a wrapper does with the options that only some
// wrappers can apply.
type wrapperKind int

const (
	kindWrap     wrapperKind = iota // Wrap: one event, an output to store
	kindNoOutput                    // WrapNoOutput: one event, no output
	kindSQS                         // WrapSQS: concurrent records with a visibility
	kindHTTP                        // WrapHTTP: one request, answered by the middleware when h does not run
	kindStream                      // WrapKinesis, WrapDynamoDBStream: records one at a time, in order
)

// refuseInapplicable makes an option that the wrapper named name, of kind
// k, would ignore a configuration error: a wrapper that accepted an option
// and did nothing with it would let its caller believe in a behaviour it
// does not have.
func (inv *invoker) refuseInapplicable(k wrapperKind, name string) {
	if inv.err != nil {
		return
	}
	o := inv.o
	switch {
	case o.concurrencySet && k != kindSQS:
		why := "it handles one event per invocation"
		if k == kindStream {
			why = "a stream's records run one at a time, in order, so that a failure never repeats a record that succeeded; " +
				"raise the event source mapping's ParallelizationFactor instead"
		}
		inv.err = fmt.Errorf("%w: WithConcurrency with %s: only WrapSQS runs records concurrently, and %s", lock.ErrInvalidInput, name, why)
	case o.backoff != nil && k != kindSQS:
		inv.err = fmt.Errorf("%w: WithVisibilityBackoff with %s: only SQS records have a visibility timeout to set (WrapSQS)", lock.ErrInvalidInput, name)
	case o.held == Skip && k == kindHTTP:
		inv.err = fmt.Errorf("%w: WithOnHeld(Skip) with %s: a skipped request would get no answer; use Fail (409 Conflict) or Wait", lock.ErrInvalidInput, name)
	}
}

// noNamespace explains the configuration error of a wrapper without
// WithNamespace.
const noNamespace = `no lock namespace: lock IDs are namespace + "/" + key, and only functions that use the same namespace exclude each other; ` +
	`choose it for the entities you lock, such as WithNamespace("account") for account IDs, and pass the same one to every function that must exclude these ` +
	`(WithNamespace("") locks the bare keys)`

// WithOnHeld sets what happens to an event whose lock is held: Fail, Skip
// or Wait. The default is Fail. WrapHTTP refuses Skip: a skipped request
// would get no answer.
func WithOnHeld(p HeldPolicy) Option { return func(o *options) { o.held = p } }

// WithNamespace sets the prefix of every lock ID: namespace + "/" + key,
// such as "account/42". It is required: a wrapper without it is refused
// when built, with an error matching lock.ErrInvalidInput. Name it after the entities
// locked, not after the function, and pass the same namespace to every
// function that must exclude the others on them, whatever its trigger: an
// SQS function and an EventBridge function that both write account 42
// exclude each other only if both lock "account/42". The function's name
// is no default because it would keep such functions apart, and lock
// other IDs in local runs than when deployed. An empty namespace locks the
// keys as they are.
func WithNamespace(namespace string) Option {
	return func(o *options) { o.namespace, o.namespaceSet = namespace, true }
}

// WithConcurrency sets how many SQS records of a batch run at once (records
// with the same key or, on a FIFO queue, the same message group always run
// one after the other). The default is 10. Only
// WrapSQS takes it: the other wrappers handle one event per invocation, or
// (WrapKinesis, WrapDynamoDBStream) a stream's records one at a time in
// order, and refuse it when built.
func WithConcurrency(n int) Option {
	return func(o *options) { o.concurrency, o.concurrencySet = n, true }
}

// WithReserve sets how long before the invocation's deadline the handler's
// context ends, leaving time to release the lock. The default is 500 ms.
// It also bounds the release and the other requests the middleware sends
// after the handler (completions, SQS visibility changes).
func WithReserve(d time.Duration) Option { return func(o *options) { o.reserve = d } }

// WithMinTimeLeft sets the least time worth taking a lock with: when the
// handler would have less than d before its context ends (the reserve
// before the deadline, or sooner if the lease ends sooner), the event
// fails with ErrNoTime without acquiring, so that it is retried by an
// invocation with time to do the work instead of starting work it cannot
// finish. It applies to the first attempt and ends a wait (WithOnHeld(Wait))
// as soon as less is left. Invocations without a deadline ignore it. The
// default, 0, takes a lock with whatever time is left: the middleware
// cannot know how long a handler needs, so only its author can set it.
func WithMinTimeLeft(d time.Duration) Option { return func(o *options) { o.minTimeLeft = d } }

// WithLogger sets the logger of acquisitions, contention, waits, skips and
// release failures. The default writes JSON to standard output (which
// Lambda sends to CloudWatch Logs) at level Info.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMetrics writes one CloudWatch Embedded Metric Format line per
// invocation to w (standard output under Lambda): AcquireLatency
// (milliseconds, one value per lock set taken), Contended (events that found
// their lock, or their idempotency claim, held), Skipped, FailedRecords
// (failed SQS records, or a failed event of Wrap), ReleaseFailures (also
// completions of idempotency claims that did not go through) and
// Duplicates (duplicates of completed events answered from the store,
// WithIdempotency), and, with WithVisibilityBackoff, BackedOff, BackoffDelay
// (seconds) and VisibilityFailures, in namespace "DynaLock" with dimension FunctionName.
// The default, nil, writes none.
func WithMetrics(w io.Writer) Option { return func(o *options) { o.metrics = w } }

// WithRunUnkeyed makes an event from which no key can be derived run its
// handler without a lock, with a warning, instead of failing (an HTTP
// request: 400): for triggers whose events are not all about an entity,
// such as a table's stream with items of several kinds. The default is to
// fail it.
func WithRunUnkeyed() Option { return func(o *options) { o.runUnkeyed = true } }

// WithDisabled, when disabled is true, runs handlers without any lock: no
// keys are derived, a nil lock client is allowed, and SQS records run
// concurrently up to the concurrency limit whatever their keys (the records
// of a FIFO message group still run in order); idempotency is off too. It
// is the "without locking" switch of demos and emergencies
// (DYNALOCK_DISABLED=true). The default is false.
func WithDisabled(disabled bool) Option { return func(o *options) { o.disabled = disabled } }
