package lock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/dynalock/dynalock/internal/lockitem"
)

// maxPermits bounds WithPermits. Every holder's entry (about 300 bytes
// with a Lambda function's owner, request ID and a little metadata) lives
// in the ID's one item, and every acquire, release and extend rewrites
// that item: at 100 permits it is about 29 KB, so each write costs about
// 29 write units and one item sustains some 35 of them a second
// (DynamoDB's 1,000 write units a second per partition). More holders than
// that belong on several IDs.
const maxPermits = 100

// WithPermits makes each lock ID of the call admit up to n holders at
// once, a semaphore: each holder gets a lease of its own (its lease ID,
// fencing token from the ID's one counter, end, owner-checked Release and
// Extend, lease-checked Write and Complete, heartbeat), and an acquire
// that finds all n taken by unexpired leases is refused with a *HeldError
// naming the holder whose lease ends first, or waits (WithWait). A lapsed
// permit (its holder's lease over by more than the clock-skew tolerance)
// is taken over as a lapsed lock is. With several lock IDs (Client.Lock(a,
// b)), the lease holds one permit of each, all or none.
//
// Every holder of one lock ID must ask for the same n: an acquire that
// finds the ID held with another count, or held as a lock of one permit,
// fails with ErrLockAcquisition (not a *HeldError, so it does not wait)
// naming both counts; the count changes once every holder of the old one
// has released or lapsed. n must be between 1 and 100; 1, the default, is
// the lock of one holder, unchanged. The n holders' entries share the ID's
// one item, which DynamoDB caps at 400 KB: n entries of this caller's size
// (owner, host, metadata) must fit, or the call fails with ErrInvalidInput
// before any request (5 KB of metadata allows 76). Claim refuses n > 1: a claim is work
// done once, which two holders at a time would not be.
//
// Acquiring a free permit costs one conditional write (three the first
// time an ID is used with permits); taking over a lapsed one, two;
// releasing, one. The holders share one item of at most 400 KB, rewritten
// by every acquire, release and extend: see docs/GUARANTEES.md for its
// limits.
func WithPermits(n int) Option {
	return func(o *options) {
		if n == 0 {
			n = -1 // asked for, and invalid: not the default
		}
		o.Permits = n
	}
}

// checkPermits refuses a permit count outside 1..maxPermits, or one
// whose holders' entries (with this caller's owner, host and metadata)
// cannot all fit in the lock ID's item.
func checkPermits(o options, host string) error {
	if o.Permits < 0 || o.Permits > maxPermits {
		return invalid("WithPermits: the number of permits must be between 1 and %d", maxPermits)
	}
	return checkPermitsFit(o, host)
}

// permitsMismatch is the error of an acquire with want permits on an ID
// whose item holds another count.
func permitsMismatch(id string, want int, have int64, why string) error {
	return fmt.Errorf("%w: %q: asked with %d permit(s), but the lock ID is %s with %d: every holder of one lock ID must use the same count (WithPermits)",
		ErrLockAcquisition, id, want, why, have)
}

// maxPermitRounds bounds the requests of one permit attempt: the item
// changed under each of them (other holders came and went).
const maxPermitRounds = 4

// permitAttempt sends one acquire of a permit of id for lease leaseID: one
// request when a permit is free; when every permit is taken but some by
// lapsed leases, a second that removes them and takes one.
func (c *Client) permitAttempt(ctx context.Context, id, leaseID string, o options) (*part, error) {
	o, err := forAttempt(o)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	req := permitRequest{
		acquireRequest: acquireRequest{table: c.table, shape: c.shape, id: id, leaseID: leaseID, o: o, host: c.host, now: o.Now()},
		n:              o.Permits,
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		req.requestID = lc.AwsRequestID
	}
	in := req.joinInput()
	var view lockitem.Permits
	maybeApplied := false
	tooLarge := false // the last request was refused for the item's size
	for round := 1; ; round++ {
		var seen attempts
		out, err := c.db.UpdateItem(ctx, in, seen.option())
		if err == nil && in.ReturnValues != types.ReturnValueAllNew {
			in = req.joinInput() // the item was made a permit item
			continue
		}
		if err == nil {
			return c.permitGranted(ctx, req, out.Attributes, started)
		}
		var item map[string]types.AttributeValue
		var ccf *types.ConditionalCheckFailedException
		tooLarge = false
		switch {
		case errors.As(err, &ccf):
			item = ccf.Item
		case isItemTooLarge(err):
			// Holders with larger entries than this caller's fill the
			// item: nothing was written, and the refusal carries no
			// item. Read it, so that lapsed entries are removed and live
			// ones make the permits held.
			tooLarge = true
			if item, err = c.readAfterTooLarge(ctx, id); err != nil {
				return nil, err
			}
		case isInvalidDocumentPath(err):
			// No Holders map: DynamoDB may check the path before the
			// condition. Nothing was written; make the item.
			in = req.initInput("")
			continue
		default:
			if maybeApplied || seen.any() {
				c.permitCleanup(ctx, req)
			}
			return nil, fmt.Errorf("%w: %q: %w", ErrLockAcquisition, id, err)
		}
		maybeApplied = maybeApplied || seen.earlier()
		if view, err = c.shape.ParsePermits(item); err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrLockAcquisition, id, err)
		}
		if _, ok := view.Holders[leaseID]; ok {
			// An earlier attempt of this request went through.
			return c.permitGranted(ctx, req, item, started)
		}
		if round >= maxPermitRounds {
			break
		}
		next, err := c.nextPermitRequest(req, view, tooLarge)
		if err != nil {
			return nil, err
		}
		in = next
	}
	// The item changed under every request: contention. Report the holder
	// seen last, so that a waiter tries again.
	return nil, permitsHeld(req, view, c.lapsedRule())
}

// nextPermitRequest judges the item a refused permit request found and
// returns the request to send next, or why the attempt ends. tooLarge:
// the request was refused because the item would have grown past
// DynamoDB's 400 KB; unless lapsed entries can be removed, the permits
// are held (the item's size admits fewer holders than n), and a waiter
// waits for one to leave.
func (c *Client) nextPermitRequest(req permitRequest, p lockitem.Permits, tooLarge bool) (*dynamodb.UpdateItemInput, error) {
	id, n := req.id, req.n
	switch {
	case p.ForcedLease == req.leaseID:
		return nil, fmt.Errorf("%w: %q: the acquire went through but its permit was force-released by an operator before the answer came", ErrLockAcquisition, id)
	case p.Single.LeaseID != "":
		if p.Single.Released || p.Single.ExpiresAt.UnixMilli() < req.now.Add(-req.o.Skew).UnixMilli() {
			return req.initInput(p.Single.LeaseID), nil // over: the ID becomes a permit item
		}
		return nil, permitsMismatch(id, n, 1, "held as a lock")
	case !p.HasHolders:
		return req.initInput(""), nil
	}
	isLapsed := c.lapsedRule()
	var live int
	var gone []lapsed
	for _, h := range p.Sorted() {
		if isLapsed(h, req.now, req.o) {
			gone = append(gone, lapsed{leaseID: h.LeaseID, end: h.ExpiresAt})
		} else {
			live++
		}
	}
	switch {
	case p.N != int64(n) && live > 0:
		return nil, permitsMismatch(id, n, p.N, "held")
	case live >= n, tooLarge && len(gone) == 0 && live > 0:
		return nil, permitsHeld(req, p, isLapsed)
	case len(gone) == 0 && p.N == int64(n):
		return req.joinInput(), nil // the item changed since: try again
	}
	return req.takeInput(gone, p.N), nil
}

// lapsedFunc reports whether a permit's holder h has lost its claim to
// the permit at now, by the client's clock: it may be taken over.
type lapsedFunc func(h lockitem.PermitHolder, now time.Time, o options) bool

// lapsedRule returns the rule by which a permit is taken over. Today it is
// the single lease's: the stored end passed more than the clock-skew
// tolerance ago. A rule that judges by what the waiter observed (the
// entry unchanged for its granted TTL plus the tolerance, by the waiter's
// monotonic clock) plugs in here: the takeover's condition only asks the
// entries it removes to be unchanged, so any rule the client can decide
// works without a change of request.
func (c *Client) lapsedRule() lapsedFunc {
	return func(h lockitem.PermitHolder, now time.Time, o options) bool {
		return h.ExpiresAt.UnixMilli() < now.Add(-o.Skew).UnixMilli()
	}
}

// permitsHeld is the *HeldError of an ID whose permits are all taken: it
// names the live holder whose lease ends first (the first permit that can
// free by expiry).
func permitsHeld(req permitRequest, p lockitem.Permits, lapsed lapsedFunc) error {
	e := &HeldError{LockID: req.id, At: req.now, Permits: req.n}
	for _, h := range p.Sorted() {
		if !lapsed(h, req.now, req.o) {
			e.Holder, e.Metadata = Holder(h.Holder), h.Metadata
			break
		}
	}
	return e
}

// permitGranted makes the lease of a permit from the item after its
// acquire.
func (c *Client) permitGranted(ctx context.Context, req permitRequest, item map[string]types.AttributeValue, started time.Time) (*part, error) {
	p, err := c.shape.ParsePermits(item)
	h, ok := p.Holders[req.leaseID]
	if err != nil || !ok {
		c.permitCleanup(ctx, req)
		return nil, fmt.Errorf("%w: %q: unexpected item after acquire: %v", ErrLockAcquisition, req.id, err)
	}
	lease := &part{client: c, id: req.id, leaseID: req.leaseID, token: h.Token, o: req.o, forces: p.ForceCount,
		permits: req.n, end: started.Add(req.o.TTL)}
	if !time.Now().Before(lease.deadline()) {
		c.permitCleanup(ctx, req)
		return nil, fmt.Errorf("%w: %q: the answer came %s after the request, past the lease's deadline",
			ErrLockAcquisition, req.id, time.Since(started).Round(time.Millisecond))
	}
	return lease, nil
}

// permitCleanup removes req's entry in case the acquire went through
// unseen, as cleanup does for a single lease.
func (c *Client) permitCleanup(ctx context.Context, req permitRequest) {
	ctx, cancel := releaseContext(ctx, req.o)
	defer cancel()
	_, _ = c.db.UpdateItem(ctx, c.permitReleaseInput(req.id, req.leaseID, 0))
}

// isInvalidDocumentPath reports DynamoDB's refusal of an update of a path
// whose parent map does not exist.
func isInvalidDocumentPath(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationException" &&
		strings.Contains(ae.ErrorMessage(), "document path provided in the update expression is invalid")
}

// permitGoneEarlier judges an item without this lease's permit (no entry
// under its lease ID, or one with another token: ownsEntry), found by a
// release (or a Complete) of which an earlier attempt may have gone
// through (maybeSent): nil when that attempt removed it, an error matching
// ErrLockLost when the permit was lost, one matching ErrReleaseUnknown when
// it cannot be told. Only this holder removes its entry before the lease's
// end plus the tolerance; an operator may at any time, and counts it.
func (l *part) permitGoneEarlier(item map[string]types.AttributeValue, maybeSent bool) error {
	p, err := l.client.shape.ParsePermits(item)
	switch {
	case err != nil, !maybeSent, p.ForcedLease == l.leaseID:
		return fmt.Errorf("%w: %w", ErrLockRelease, l.permitLost(item))
	}
	l.mu.Lock()
	end := l.end
	l.mu.Unlock()
	if time.Now().Before(end) && l.forced(record{ForcedLease: p.ForcedLease, ForceCount: p.ForceCount}) == forcedNo {
		return nil
	}
	return l.unknown("an earlier attempt may have released its permit, which is gone in a way that does not tell")
}

// permitLost describes the item that a release, extend or write found
// without this lease's entry.
func (l *part) permitLost(item map[string]types.AttributeValue) *lostError {
	p, err := l.client.shape.ParsePermits(item)
	switch {
	case len(item) == 0:
		return &lostError{LockID: l.id, Reason: "the lock's item is gone"}
	case err != nil:
		return &lostError{LockID: l.id, Reason: err.Error()}
	case p.ForcedLease == l.leaseID:
		return &lostError{LockID: l.id, Reason: "an operator force-released its permit"}
	case hasEntry(p, l.leaseID) && !ownsEntry(p, l.leaseID, l.token):
		return &lostError{LockID: l.id, Reason: "its permit was removed (its lease ended and another holder took it over, or an operator released it); " +
			"a late copy of its acquire request has since added an entry under its lease ID, with another token, which is not its permit"}
	}
	switch l.forced(record{ForcedLease: p.ForcedLease, ForceCount: p.ForceCount}) {
	case forcedNo:
		return &lostError{LockID: l.id, Reason: "its permit's lease ended and another holder took the permit over"}
	default:
		return &lostError{LockID: l.id, Reason: "its permit is gone (its lease ended, or an operator released it)"}
	}
}

// permitExtend is extend for a permit.
func (l *part) permitExtend(ctx context.Context, ttl time.Duration) error {
	started := time.Now()
	end := l.o.Now().Add(ttl)
	_, err := l.client.db.UpdateItem(ctx, l.client.permitExtendInput(l.id, l.leaseID, l.token, end, l.o.Retention))
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return fmt.Errorf("lock: extend %q: %w", l.id, err)
		}
		if p, perr := l.client.shape.ParsePermits(ccf.Item); perr != nil || !ownsEntry(p, l.leaseID, l.token) {
			return l.permitLost(ccf.Item)
		}
		return nil // the lease already ends later
	}
	l.mu.Lock()
	if e := started.Add(ttl); e.After(l.end) {
		l.end = e
	}
	l.mu.Unlock()
	return nil
}

// ownsEntry reports whether p holds the permit granted to leaseID with
// token: its entry, with that token. An entry under the same lease ID
// with another token is not that permit: a late copy of the holder's
// acquire request wrote it after the permit was removed (see
// permitLost), and it holds a permit for nobody until it lapses.
func ownsEntry(p lockitem.Permits, leaseID string, token int64) bool {
	h, ok := p.Holders[leaseID]
	return ok && h.Token == token
}

func hasEntry(p lockitem.Permits, leaseID string) bool {
	_, ok := p.Holders[leaseID]
	return ok
}

// permitFinishedEarlier reports whether a Complete's refused check of
// this permit found it gone after an earlier Complete of this lease, whose
// answer was lost, removed it.
func (l *part) permitFinishedEarlier(item map[string]types.AttributeValue) bool {
	return l.permitGoneEarlier(item, true) == nil
}
