package lock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// MaxResultBytes is the largest result Complete stores: DynamoDB's item
// limit is 400 KB, and the lock's own attributes need some of it.
const MaxResultBytes = 350 * 1024

// ErrPayloadMismatch means a claim's key was claimed earlier with another
// payload: the same idempotency key was reused for a different request.
var ErrPayloadMismatch = errors.New("lock: idempotency key reused with another payload")

// Claim is what Client.Claim found: either a lease to do the work under,
// or the completion of an earlier holder that did it.
type Claim struct {
	// Lease is set when the work is to be done: the claim was never
	// completed, or its completion expired, or its earlier holder released
	// it without completing. Complete it (Lease.Complete) when the work is
	// done, or release it so that a retry can do it.
	Lease *Lease
	// Done is set instead when the claim was completed and the completion
	// has not expired: the work must not run again. Result is what the
	// completing holder stored (nil if nothing), and CompletedAt when, by
	// its clock.
	Done        bool
	Result      []byte
	CompletedAt time.Time
}

// Claim is Acquire for work that must be done once per id, such as one
// event's effects: it acquires the lock id unless a holder completed it
// earlier and that completion has not expired (Config.CompletionExpiry),
// which one conditional write decides. payload, if not nil, is what the
// work is for (an event's body): its SHA-256 is stored, and a later claim
// of id with another payload fails with ErrPayloadMismatch instead of
// running or answering. To lock the entities the work changes as well,
// acquire them beside it and Join the two leases.
//
// A held claim (a duplicate in progress) is a *HeldError, and Claim waits
// as Acquire does (WithWait). Other failures match ErrLockAcquisition.
// Expiry is decided from the stored completion time, never from DynamoDB's
// TTL deletion. Use one lock ID per unit of work, apart from the lock IDs
// of the entities it changes: a claim is the lock of the work, not of the
// entity.
func (c *Client) Claim(ctx context.Context, id string, payload []byte, opts ...Option) (Claim, error) {
	o, err := c.callOptions([]string{id}, opts)
	if err != nil {
		return Claim{}, err
	}
	if o.Permits > 1 {
		return Claim{}, invalid("Claim %q with WithPermits(%d): a claim is work done once, which %d holders at a time would not be; "+
			"give the permits to the entity locks taken beside it (Join)", id, o.Permits, o.Permits)
	}
	var hash string
	if payload != nil {
		sum := sha256.Sum256(payload)
		hash = hex.EncodeToString(sum[:])
	}
	var claim Claim
	err = c.retryWhileHeld(ctx, o, func(w *watch) error {
		var err error
		claim, err = c.claimAttempt(ctx, id, o, hash, w)
		return err
	})
	return claim, err
}

// claimAttempt sends one claim request.
func (c *Client) claimAttempt(ctx context.Context, id string, o options, hash string, w *watch) (Claim, error) {
	cl, err := c.attemptAs(ctx, id, newLeaseID(), o, &claimOf{payloadHash: hash}, w)
	var done *completedError
	switch {
	case errors.As(err, &done):
		return Claim{Done: true, Result: done.result, CompletedAt: done.completedAt}, nil
	case err != nil:
		return Claim{}, err
	}
	return Claim{Lease: &Lease{locks: []*part{cl}, claim: cl}}, nil
}

// claimOf makes an acquire a claim: a payload hash to store and compare.
type claimOf struct{ payloadHash string }

// completedError is how an attempt reports a completed claim to Claim.
type completedError struct {
	result      []byte
	completedAt time.Time
}

func (e *completedError) Error() string { return "lock: claim completed" }

// claimFailed judges the item a claim's failed condition found: a
// completion, another payload, or a holder.
func claimFailed(id string, rec record, now time.Time, hash string) error {
	if hash != "" && rec.PayloadHash != "" && rec.PayloadHash != hash {
		return fmt.Errorf("%w: %q", ErrPayloadMismatch, id)
	}
	if !rec.DoneUntil.IsZero() && now.Before(rec.DoneUntil) {
		return &completedError{result: rec.Result, completedAt: rec.CompletedAt}
	}
	return &HeldError{LockID: id, Holder: holderOf(rec), At: now, Metadata: rec.Metadata}
}

// complete marks the claim done and releases it, storing result: one
// conditional write, which goes through only while this lease holds the
// claim. After a completion, it replaces the stored result.
func (l *part) complete(ctx context.Context, result []byte) error {
	if err := l.usable(); err != nil {
		return err
	}
	l.mu.Lock()
	completed := l.completed
	l.mu.Unlock()
	if completed {
		if result == nil {
			return nil // nothing to replace the stored result with
		}
		return l.amendResult(ctx, result)
	}
	if err := l.checkComplete(result); err != nil {
		return err
	}
	u := l.completion(result)
	_, err := l.client.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
		ConditionExpression: u.ConditionExpression, ExpressionAttributeNames: u.ExpressionAttributeNames,
		ExpressionAttributeValues:           u.ExpressionAttributeValues,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return fmt.Errorf("lock: complete %q: %w", l.id, err)
		}
		rec, perr := l.client.parseRecord(ccf.Item)
		if perr != nil || rec.CompletedLease != l.leaseID {
			return fmt.Errorf("lock: complete %q: %w", l.id, l.lost(ccf.Item))
		}
		// An earlier completion by this lease went through, its answer
		// lost: the item says what it stored. Store result in its place
		// if it differs.
		l.mu.Lock()
		l.released, l.completed = true, true
		l.stored, l.storedKnown = rec.Result, true
		l.mu.Unlock()
		if result == nil {
			return nil
		}
		return l.amendResult(ctx, result)
	}
	l.mu.Lock()
	l.released, l.completed = true, true
	l.stored, l.storedKnown = result, true
	l.mu.Unlock()
	return nil
}

// amendResult replaces the result of the claim this lease completed, if
// the completion is still this lease's.
func (l *part) amendResult(ctx context.Context, result []byte) error {
	l.mu.Lock()
	same := l.storedKnown && bytes.Equal(l.stored, result) && (l.stored == nil) == (result == nil)
	l.mu.Unlock()
	if same {
		return nil // stored already: nothing to send
	}
	l.mu.Lock()
	l.storedKnown = false // until this write's outcome is known
	l.mu.Unlock()
	if len(result) > MaxResultBytes {
		return invalid("Complete: a result of %d bytes is more than the %d a lock item can hold; store it elsewhere and complete with a reference to it, or with none", len(result), MaxResultBytes)
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.client.table),
		Key:                       l.client.keyOf(l.id),
		UpdateExpression:          aws.String("REMOVE #result"),
		ConditionExpression:       aws.String("#doneLease = :lease"),
		ExpressionAttributeNames:  map[string]string{"#result": attrResult, "#doneLease": attrCompletedLease},
		ExpressionAttributeValues: map[string]types.AttributeValue{":lease": sAttr(l.leaseID)},
	}
	if result != nil {
		in.UpdateExpression = aws.String("SET #result = :result")
		in.ExpressionAttributeValues[":result"] = &types.AttributeValueMemberB{Value: result}
	}
	if _, err := l.client.db.UpdateItem(ctx, in); err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return fmt.Errorf("lock: store the result of %q: %w", l.id, &lostError{LockID: l.id, Reason: "its completion was replaced by a later claim's"})
		}
		return fmt.Errorf("lock: store the result of %q: %w", l.id, err)
	}
	l.mu.Lock()
	l.stored, l.storedKnown = result, true
	l.mu.Unlock()
	return nil
}

func (l *part) checkComplete(result []byte) error {
	switch {
	case !l.claim:
		return invalid("Complete: a result given to the lease of %q, which holds no claim (use Client.Claim): it would be dropped", l.id)
	case len(result) > MaxResultBytes:
		return invalid("Complete: a result of %d bytes is more than the %d a lock item can hold; store it elsewhere and complete with a reference to it, or with none", len(result), MaxResultBytes)
	}
	l.mu.Lock()
	released := l.released
	l.mu.Unlock()
	if released {
		return &lostError{LockID: l.id, Reason: "its holder released it before completing"}
	}
	return nil
}

// completion is the write that completes and releases the claim, on the
// condition that this lease holds it.
func (l *part) completion(result []byte) *types.Update {
	now := l.o.Now()
	until := now.Add(l.o.CompletionExpiry)
	set := "SET #rel = :lease, #relAt = :now, #doneAt = :now, #done = :until, #doneLease = :lease, #ttl = :ttl"
	values := map[string]types.AttributeValue{
		":lease": sAttr(l.leaseID),
		":tok":   nAttr(l.token),
		":now":   nAttr(now.UnixMilli()),
		":until": nAttr(until.UnixMilli()),
		":ttl":   nAttr(cleanupAt(until, l.o.Retention)),
	}
	names := map[string]string{
		"#rel": attrReleasedLease, "#relAt": attrReleasedAt, "#doneAt": attrCompletedAt, "#done": attrDoneUntil,
		"#doneLease": attrCompletedLease, "#ttl": l.client.shape.TTLAttribute, "#lease": attrLease, "#result": attrResult, "#tok": attrToken,
	}
	expr := set + ", #result = :result"
	if result == nil {
		expr = set + " REMOVE #result"
	} else {
		values[":result"] = &types.AttributeValueMemberB{Value: result}
	}
	return &types.Update{
		TableName:                           aws.String(l.client.table),
		Key:                                 l.client.keyOf(l.id),
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String("#lease = :lease AND NOT (#rel = :lease) AND #tok = :tok"), // granted.go
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// isCompleted reports whether this lease completed its claim.
func (l *part) isCompleted() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.completed
}
