package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/dynalock/dynalock/lock"
)

// invoker holds what Wrap and WrapSQS share between invocations: the lock
// client, the options and the metrics writer. It has no other state, so
// one process may serve several invocations at once.
type invoker struct {
	c       *lock.Client
	o       options
	metrics *emf
	err     error // configuration error, returned by every invocation
	// reserveCause is the cause of a handler's context ending at the
	// deadline less the reserve.
	reserveCause error
}

func newInvoker(c *lock.Client, hasKey, hasHandler bool, opts []Option) *invoker {
	inv := &invoker{c: c, o: newOptions(opts)}
	inv.metrics = newEMF(inv.o.metrics)
	inv.reserveCause = fmt.Errorf("middleware: the invocation's deadline less the reserve %s: %w", inv.o.reserve, context.DeadlineExceeded)
	switch {
	case !hasHandler:
		inv.err = fmt.Errorf("%w: nil handler", lock.ErrInvalidInput)
	case inv.o.disabled:
	case c == nil:
		inv.err = fmt.Errorf("%w: nil lock client (use WithDisabled to run without locks)", lock.ErrInvalidInput)
	case !hasKey:
		inv.err = fmt.Errorf("%w: nil key function", lock.ErrInvalidInput)
	default:
		inv.err = inv.o.validate()
	}
	return inv
}

// invocation is one call of a wrapped handler.
type invocation struct {
	*invoker
	log   *slog.Logger
	stats *stats
	// deadline is the invocation's deadline; zero when it has none.
	deadline time.Time
}

func (inv *invoker) begin(ctx context.Context) *invocation {
	in := &invocation{invoker: inv, log: inv.o.logger}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		in.log = in.log.With("requestId", lc.AwsRequestID)
	}
	if inv.metrics != nil {
		in.stats = new(stats)
	}
	in.deadline, _ = ctx.Deadline()
	return in
}

func (in *invocation) end() { in.metrics.flush(in.stats) }

// workContext returns the context the handler runs under: ctx ending the
// reserve before the invocation's deadline. It fails with ErrNoTime when
// that moment has passed.
func (in *invocation) workContext(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if in.deadline.IsZero() {
		ctx, cancel := context.WithCancel(ctx)
		return ctx, cancel, nil
	}
	work := in.deadline.Add(-in.o.reserve)
	if !time.Now().Before(work) {
		return nil, nil, ErrNoTime
	}
	ctx, cancel := context.WithDeadlineCause(ctx, work, in.reserveCause)
	return ctx, cancel, nil
}

// lockOptions returns the options of an acquire attempted now, waiting at
// most wait: the lease lasts until the deadline plus the grace (or the TTL
// without a deadline) and the release never takes longer than the reserve.
func (in *invocation) lockOptions(wait time.Duration) []lock.Option {
	opts := slices.Clone(in.o.lockOpts)
	if in.deadline.IsZero() {
		if in.o.ttl > 0 {
			opts = append(opts, lock.WithTTL(ceilMillis(in.o.ttl)))
		}
		opts = append(opts, lock.WithReleaseTimeout(in.o.releaseTimeout))
	} else {
		opts = append(opts,
			lock.WithTTL(ceilMillis(time.Until(in.deadline)+in.o.grace)),
			lock.WithReleaseTimeout(max(min(in.o.releaseTimeout, in.o.reserve), time.Millisecond)))
	}
	return append(opts, lock.WithWait(wait))
}

func ceilMillis(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// outcome is what became of one event.
type outcome int

const (
	ran     outcome = iota // the handler ran (its error is returned beside)
	skipped                // the lock was held and the policy is Skip
	refused                // the handler did not run: lock held, no key, no time, DynamoDB failed
)

// run runs fn for one event under the locks ids (without a lock when ids
// is empty), on a context that ends the reserve before the deadline.
func (in *invocation) run(ctx context.Context, ids []string, log *slog.Logger, fn func(context.Context) error) (outcome, error) {
	work, cancel, err := in.workContext(ctx)
	if err != nil {
		return refused, err
	}
	defer cancel()
	if len(ids) == 0 {
		return ran, fn(work)
	}
	leases, err := in.acquire(work, ids, log)
	if err != nil {
		if errors.Is(err, lock.ErrLockAlreadyAcquired) && in.o.held == Skip {
			in.stats.skip()
			log.Info("lock held: event skipped", "lockIds", ids, "error", err)
			return skipped, nil
		}
		return refused, err
	}
	var handlerErr error
	runErr := lock.Run(work, leases, func(ctx context.Context) error {
		handlerErr = fn(ctx)
		return handlerErr
	})
	if runErr != nil && runErr != handlerErr { //nolint:errorlint // identity: was the release's error joined in?
		in.stats.releaseFailure()
		level := slog.LevelWarn
		if errors.Is(runErr, lock.ErrLockLost) {
			level = slog.LevelError
		}
		log.Log(ctx, level, "lock release failed", "lockIds", ids, "error", runErr)
	}
	return ran, handlerErr
}

// acquire takes the locks ids, all or none, as the policy says.
func (in *invocation) acquire(ctx context.Context, ids []string, log *slog.Logger) ([]*lock.Lease, error) {
	started := time.Now()
	leases, err := in.c.AcquireAll(ctx, ids, in.lockOptions(0)...)
	if errors.Is(err, lock.ErrLockAlreadyAcquired) {
		in.stats.contention()
		log.Info("lock held", "lockIds", ids, "policy", in.o.held.String(), "error", err)
		if in.o.held == Wait {
			leases, err = in.wait(ctx, ids, log)
		}
	}
	if err != nil {
		return nil, err
	}
	in.stats.acquired(time.Since(started))
	if log.Enabled(ctx, slog.LevelDebug) {
		log.Debug("lock acquired", "lockIds", ids, "fencingToken", leases[0].FencingToken(), "latency", time.Since(started))
	}
	return leases, nil
}

// wait keeps trying the locks until they are free or ctx ends. With a
// deadline it tries in slices, computing each slice's lease from the
// deadline afresh, so a lease taken late still ends the grace after it.
func (in *invocation) wait(ctx context.Context, ids []string, log *slog.Logger) ([]*lock.Lease, error) {
	started := time.Now()
	log.Info("waiting for lock", "lockIds", ids)
	for {
		slice := lock.WaitForever
		if !in.deadline.IsZero() {
			slice = in.o.waitSlice
		}
		leases, err := in.c.AcquireAll(ctx, ids, in.lockOptions(slice)...)
		if err == nil {
			log.Info("lock acquired after waiting", "lockIds", ids, "waited", time.Since(started).String())
			return leases, nil
		}
		if !errors.Is(err, lock.ErrLockAlreadyAcquired) || ctx.Err() != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("middleware: gave up waiting after %s: %w", time.Since(started).Round(time.Millisecond), err)
			}
			return nil, err
		}
	}
}

// keys derives the lock IDs of event, or a *KeyError naming its ID.
func keys[T any](ctx context.Context, key KeyFunc[T], namespace string, event T) ([]string, error) {
	ks, err := key(ctx, event)
	if err == nil && len(ks) == 0 {
		err = keyError("the key function", "no keys", nil)
	}
	if err == nil {
		for _, k := range ks {
			if k == "" {
				err = keyError("the key function", "empty key", nil)
				break
			}
		}
	}
	if err != nil {
		return nil, withEventID(err, eventID(ctx, event))
	}
	// A key given twice (one SKU on two order lines) is one lock: an SQS
	// record must not wait for itself.
	return compactIDs(lockIDs(namespace, ks)), nil
}

// compactIDs removes repeated IDs from ids, keeping the first of each in
// place.
func compactIDs(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	return slices.DeleteFunc(ids, func(id string) bool {
		if seen[id] {
			return true
		}
		seen[id] = true
		return false
	})
}

// eventID identifies an event in errors and logs: its own ID when it has
// one, else the Lambda request ID.
func eventID(ctx context.Context, event any) string {
	switch e := event.(type) {
	case events.SQSMessage:
		return e.MessageId
	case *events.SQSMessage:
		if e != nil {
			return e.MessageId
		}
	case events.EventBridgeEvent:
		if e.ID != "" {
			return e.ID
		}
	case *events.EventBridgeEvent:
		if e != nil && e.ID != "" {
			return e.ID
		}
	case json.RawMessage:
		var v struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(e, &v) == nil && v.ID != "" {
			return v.ID
		}
	case map[string]any:
		if id, ok := e["id"].(string); ok && id != "" {
			return id
		}
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return "unknown"
}
