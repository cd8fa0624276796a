package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// MaxLockIDBytes is DynamoDB's limit on a partition key's size.
const MaxLockIDBytes = 2048

// DynamoDBAPI is the part of *dynamodb.Client that the lock uses: one
// conditional UpdateItem per acquire, release and extend. Pass a
// *dynamodb.Client configured as you like, or anything with this method.
type DynamoDBAPI interface {
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Client acquires, releases and extends locks on any lock ID in one table.
// It is safe for concurrent use and holds no state between calls besides
// its configuration.
type Client struct {
	db    DynamoDBAPI
	table string
	opts  options
	host  string
}

// NewClient returns a Client for the lock table named table. opts set the
// defaults of every call; each call may override them.
func NewClient(db DynamoDBAPI, table string, opts ...Option) (*Client, error) {
	if db == nil {
		return nil, invalid("nil DynamoDB client")
	}
	if table == "" {
		return nil, invalid("empty table name")
	}
	o := defaultOptions().with(opts)
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &Client{db: db, table: table, opts: o, host: hostName()}, nil
}

// Table returns the name of the client's lock table.
func (c *Client) Table() string { return c.table }

// ClockSkewTolerance returns the clock-skew tolerance of a call with opts
// (WithClockSkewTolerance): a holder's context ends this long before its
// lease does, and a lease's TTL must be at least MinTTL of it.
func (c *Client) ClockSkewTolerance(opts ...Option) time.Duration { return c.opts.with(opts).skew }

// TryAcquire makes one attempt to acquire the lock id: one DynamoDB request.
// It returns a *HeldError (matching ErrLockAlreadyAcquired) if another
// holder has it, whatever the wait option says.
func (c *Client) TryAcquire(ctx context.Context, id string, opts ...Option) (*Lease, error) {
	o, err := c.callOptions(id, opts)
	if err != nil {
		return nil, err
	}
	return c.attempt(ctx, id, o)
}

// Acquire acquires the lock id. If another holder has it, Acquire keeps
// trying, with jittered backoff, for as long as the wait option allows
// (WithWait; the default is one attempt) and ctx lasts; then it returns the
// last *HeldError. It blocks while it waits. Other failures return at once,
// matching ErrLockAcquisition and wrapping the SDK's error.
func (c *Client) Acquire(ctx context.Context, id string, opts ...Option) (*Lease, error) {
	o, err := c.callOptions(id, opts)
	if err != nil {
		return nil, err
	}
	var lease *Lease
	err = c.retryWhileHeld(ctx, o, func() (time.Time, error) {
		var err error
		lease, err = c.attempt(ctx, id, o)
		return heldUntil(err), err
	})
	return lease, err
}

// CheckOptions reports whether opts, on top of the client's, could be
// used by a call, without sending anything: the error matches
// ErrInvalidInput. For code that takes lock options from its own callers
// and wants to refuse bad ones early, as the Lambda middleware does.
func (c *Client) CheckOptions(opts ...Option) error { return c.opts.with(opts).validate() }

// callOptions merges opts into the client's and checks them and id.
func (c *Client) callOptions(id string, opts []Option) (options, error) {
	if err := ValidateLockID(id); err != nil {
		return options{}, err
	}
	o := c.opts.with(opts)
	return o, o.validate()
}

// ValidateLockID reports whether id can be a lock ID: not empty, valid
// UTF-8 and within DynamoDB's key size limit.
func ValidateLockID(id string) error {
	switch {
	case id == "":
		return invalid("empty lock ID")
	case len(id) > MaxLockIDBytes:
		return invalid("lock ID of %d bytes is longer than DynamoDB's %d-byte key limit", len(id), MaxLockIDBytes)
	case !utf8.ValidString(id):
		// DynamoDB would store it with U+FFFD in place of the bad bytes,
		// so two different IDs could name one lock.
		return invalid("lock ID %q is not valid UTF-8", id)
	}
	return nil
}

// attempt sends one acquire request.
func (c *Client) attempt(ctx context.Context, id string, o options) (*Lease, error) {
	return c.attemptAs(ctx, id, o, nil)
}

// attemptAs sends one acquire request, or a claim's when claim is set.
func (c *Client) attemptAs(ctx context.Context, id string, o options, claim *claimOf) (*Lease, error) {
	o, err := o.forAttempt()
	if err != nil {
		return nil, err
	}
	// The local lease end counts from started, by the monotonic clock; it is
	// read before the clock that the stored lease end comes from, so the
	// local end is never later than the stored one.
	started := time.Now()
	req := acquireRequest{table: c.table, id: id, leaseID: newLeaseID(), o: o, host: c.host, now: o.clock.Now(), claim: claim}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		req.requestID = lc.AwsRequestID
	}
	var seen attempts
	out, err := c.db.UpdateItem(ctx, req.input(), seen.option())
	if err != nil {
		return nil, c.acquireFailed(ctx, req, err, seen.any())
	}
	rec, err := ParseRecord(out.Attributes)
	if err != nil || rec.LeaseID != req.leaseID {
		// Cannot happen with DynamoDB; do not leave the lock behind.
		c.cleanup(ctx, req)
		return nil, fmt.Errorf("%w: %q: unexpected item after acquire: %v", ErrLockAcquisition, id, err)
	}
	lease := newLease(c, id, req, rec, started)
	if !time.Now().Before(lease.Deadline()) {
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
		rec, perr := ParseRecord(ccf.Item)
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
		return &HeldError{LockID: req.id, Holder: rec.Holder, At: req.now, Metadata: rec.Metadata}
	}
	if maybeApplied {
		c.cleanup(ctx, req)
	}
	if isKeySchemaMismatch(err) {
		return fmt.Errorf("%w: %q: %w: table %q: its partition key must be %s (S), with no sort key (see lock.Table): %w",
			ErrLockAcquisition, req.id, ErrNotLockTable, c.table, PartitionKey, err)
	}
	return fmt.Errorf("%w: %q: %w", ErrLockAcquisition, req.id, err)
}

// isKeySchemaMismatch reports whether err is DynamoDB's answer to a key
// that does not fit the table's key schema: "The provided key element does
// not match the schema" (DynamoDB Local: "One of the required keys was not
// given a value").
func isKeySchemaMismatch(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
		return false
	}
	msg := ae.ErrorMessage()
	return strings.Contains(msg, "key element does not match the schema") || strings.Contains(msg, "required keys was not given a value")
}

// cleanup releases req's lease if the acquire went through unseen. It runs
// on a context that outlives ctx's cancellation, bounded by the release
// timeout. Its own failure leaves at most a lease that ends by its TTL.
func (c *Client) cleanup(ctx context.Context, req acquireRequest) {
	ctx, cancel := req.o.releaseContext(ctx)
	defer cancel()
	_, _ = c.db.UpdateItem(ctx, releaseInput(c.table, req.id, req.leaseID, req.o.clock.Now(), req.o.retention))
}

// heldUntil returns the end of the holder's lease when err is a
// *HeldError, and the zero time otherwise.
func heldUntil(err error) time.Time {
	var held *HeldError
	if errors.As(err, &held) {
		if held.Holder.ExpiresAt.IsZero() {
			return time.Now() // unknown: retry after the usual step
		}
		return held.Holder.ExpiresAt
	}
	return time.Time{}
}

func newLeaseID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
