package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/dynalock/dynalock/internal/lockitem"
)

// Client serves locks on any lock ID in one table, over one DynamoDB
// client. It is safe for concurrent use and holds no state between calls
// besides its configuration.
type Client struct {
	db    DynamoDBAPI
	table string
	opts  options // the settings of every call, before its options
	cfg   Config  // as resolved by NewClient
	host  string

	shape lockitem.Shape // where lock items sit in the table (Config), resolved
}

// Lock returns the lock of ids: one lock ID, or several taken together,
// all or none (a key given twice is taken once). It sends nothing; Do and
// Acquire report IDs that cannot be lock IDs (empty, not valid UTF-8,
// longer than DynamoDB's 2048-byte key limit).
func (c *Client) Lock(ids ...string) *Lock {
	return &Lock{client: c, ids: append([]string(nil), ids...)}
}

// callOptions merges opts into the client's and checks them and ids.
func (c *Client) callOptions(ids []string, opts []Option) (options, error) {
	for _, id := range ids {
		if err := c.shape.CheckID(id); err != nil {
			return options{}, invalid("%v", err)
		}
	}
	o := with(c.opts, opts)
	if !o.LeaseEnd.IsZero() {
		o.Heartbeat = 0 // a lease with a fixed end is never extended past it
	}
	if err := checkPermits(o, c.host); err != nil {
		return o, err
	}
	return o, validate(o)
}

// validateLockID reports whether id can be a lock ID: not empty, valid
// UTF-8 and within DynamoDB's key size limit.
func validateLockID(id string) error {
	if err := lockitem.CheckID(id); err != nil {
		return invalid("%v", err)
	}
	return nil
}

// attempt sends one acquire request for lease leaseID; w, if not nil, is
// what a waiter saw of the lock so far.
func (c *Client) attempt(ctx context.Context, id, leaseID string, o options, w *watch) (*part, error) {
	return c.attemptAs(ctx, id, leaseID, o, nil, w)
}

// attemptAs sends one acquire request, or a claim's when claim is set.
func (c *Client) attemptAs(ctx context.Context, id, leaseID string, o options, claim *claimOf, w *watch) (*part, error) {
	if o.Permits > 1 && claim == nil {
		return c.permitAttempt(ctx, id, leaseID, o)
	}
	o, err := forAttempt(o)
	if err != nil {
		return nil, err
	}
	// The local lease end counts from started, by the monotonic clock; it is
	// read before the clock that the stored lease end comes from, so the
	// local end is never later than the stored one.
	started := time.Now()
	req := acquireRequest{table: c.table, shape: c.shape, id: id, leaseID: leaseID, o: o, host: c.host, now: o.Now(), claim: claim, seen: w.due(id)}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		req.requestID = lc.AwsRequestID
	}
	var seen attempts
	out, err := c.db.UpdateItem(ctx, req.input(), seen.option())
	if err != nil {
		return nil, sighted(c.acquireFailed(ctx, req, err, seen.any()), err, countFrom(started, time.Now(), o.Skew))
	}
	rec, err := c.parseRecord(out.Attributes)
	if err != nil || rec.LeaseID != req.leaseID {
		// Cannot happen with DynamoDB; do not leave the lock behind.
		c.cleanup(ctx, req)
		return nil, fmt.Errorf("%w: %q: unexpected item after acquire: %v", ErrLockAcquisition, id, err)
	}
	lease := newLease(c, id, req, rec, started)
	if !time.Now().Before(lease.deadline()) {
		// The answer came so late that the lease is over (less the
		// tolerance): a holder could not use it safely.
		c.cleanup(ctx, req)
		return nil, fmt.Errorf("%w: %q: the answer came %s after the request, past the lease's deadline",
			ErrLockAcquisition, id, time.Since(started).Round(time.Millisecond))
	}
	return lease, nil
}

// acquireFailed turns an acquire's error into a HeldError when the
// condition failed, or else into an acquisition error, after clearing the
// lease in case the request went through and only its answer was lost
// (maybeApplied).
func (c *Client) acquireFailed(ctx context.Context, req acquireRequest, err error, maybeApplied bool) error {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if p, perr := c.shape.ParsePermits(ccf.Item); perr == nil && p.HasHolders && p.Single.LeaseID == "" {
			return permitsMismatch(req.id, 1, p.N, "used")
		}
		rec, perr := c.parseRecord(ccf.Item)
		switch {
		case perr != nil:
			return fmt.Errorf("%w: %q: %w", ErrLockAcquisition, req.id, perr)
		case rec.LeaseID == req.leaseID || rec.ForcedLease == req.leaseID:
			// A retry of a request that went through found its own lease
			// released: by an operator, or by the clean-up of an earlier
			// call. This lease is over.
			by := "released"
			switch {
			case rec.Forced && rec.LeaseID == req.leaseID:
				by = fmt.Sprintf("force-released by %q", rec.ReleasedBy)
			case rec.ForcedLease == req.leaseID:
				by = "force-released by an operator"
			}
			return fmt.Errorf("%w: %q: the acquire went through but its lease was %s before the answer came", ErrLockAcquisition, req.id, by)
		case req.claim != nil:
			return claimFailed(req.id, rec, req.now, req.claim.payloadHash)
		}
		return &HeldError{LockID: req.id, Holder: holderOf(rec), At: req.now, Metadata: rec.Metadata}
	}
	if maybeApplied {
		c.cleanup(ctx, req)
	}
	if isKeySchemaMismatch(err) {
		return fmt.Errorf("%w: %q: %w: table %q: its key must be %s, as Config says (see admin.Table): %w",
			ErrLockAcquisition, req.id, lockitem.ErrNotLockTable, c.table, c.shape.Describe(), err)
	}
	return fmt.Errorf("%w: %q: %w", ErrLockAcquisition, req.id, err)
}

// isKeySchemaMismatch reports whether err is DynamoDB's answer to a key
// that does not fit the table's key schema: "The provided key element does
// not match the schema" (DynamoDB Local: "One of the required keys was not
// given a value", or with a sort key too many or missing, "The number of
// conditions on the keys is invalid").
func isKeySchemaMismatch(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
		return false
	}
	msg := ae.ErrorMessage()
	return strings.Contains(msg, "key element does not match the schema") || strings.Contains(msg, "required keys was not given a value") ||
		strings.Contains(msg, "number of conditions on the keys is invalid")
}

// cleanup releases req's lease if the acquire went through unseen. It runs
// on a context that outlives ctx's cancellation, bounded by the release
// timeout. Its own failure leaves at most a lease that ends by its TTL.
func (c *Client) cleanup(ctx context.Context, req acquireRequest) {
	ctx, cancel := releaseContext(ctx, req.o)
	defer cancel()
	_, _ = c.db.UpdateItem(ctx, c.releaseInput(req.id, req.leaseID, req.o.Now(), req.o.Retention))
}

func newLeaseID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
