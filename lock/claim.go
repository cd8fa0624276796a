package lock

import (
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

// DefaultCompletionExpiry is how long a completed claim answers its
// duplicates (WithCompletionExpiry): a day, longer than SQS's and
// EventBridge's retries of one event and than a client's retries of one
// request.
const DefaultCompletionExpiry = 24 * time.Hour

// ErrPayloadMismatch means a claim's key was claimed earlier with another
// payload: the same idempotency key was reused for a different request.
var ErrPayloadMismatch = errors.New("lock: idempotency key reused with another payload")

// Claim is what Client.Claim found: either a lease to do the work under,
// or the stored completion of an earlier holder that did it.
type Claim struct {
	// Lease is set when the work is to be done: the key was never
	// completed, or its completion expired, or its earlier holder released
	// it without completing. Complete it (Lease.Complete, or Lease.Write
	// with AndComplete) when the work is done, or release it so that a
	// retry can do it.
	Lease *Lease
	// Done is set instead when the key was completed and the completion
	// has not expired: the work must not run again.
	Done *Completion
}

// Completion is a completed claim, as stored.
type Completion struct {
	// Result is what the completing holder stored (nil if nothing).
	Result []byte
	// CompletedAt is when it was completed, and ExpiresAt until when it
	// answers duplicates, by the completing holder's clock.
	CompletedAt, ExpiresAt time.Time
}

// Claim is Acquire for work that must be done once per id, such as one
// event's effects: it acquires the lock id unless a holder completed it
// earlier and that completion has not expired, which one conditional write
// decides. payload, if not nil, is what the work is for (an event's body):
// its SHA-256 is stored, and a later claim of id with another payload
// fails with ErrPayloadMismatch instead of running or answering.
//
// A held claim (a duplicate in progress) is a *HeldError, and Claim waits
// as Acquire does (WithWait). Other failures match ErrLockAcquisition.
// Expiry is decided from the stored completion time, never from DynamoDB's
// TTL deletion. Use one lock ID per unit of work, apart from the lock IDs
// of the entities it changes: a claim is the lock of the work, not of the
// entity.
func (c *Client) Claim(ctx context.Context, id string, payload []byte, opts ...Option) (Claim, error) {
	o, err := c.callOptions(id, opts)
	if err != nil {
		return Claim{}, err
	}
	var hash string
	if payload != nil {
		sum := sha256.Sum256(payload)
		hash = hex.EncodeToString(sum[:])
	}
	var claim Claim
	err = c.retryWhileHeld(ctx, o, func() (time.Time, error) {
		var err error
		claim, err = c.claimAttempt(ctx, id, o, hash)
		return heldUntil(err), err
	})
	return claim, err
}

func (c *Client) claimAttempt(ctx context.Context, id string, o options, hash string) (Claim, error) {
	l, err := c.attemptAs(ctx, id, o, &claimOf{payloadHash: hash})
	if err == nil {
		return Claim{Lease: l}, nil
	}
	var done *completedError
	if errors.As(err, &done) {
		return Claim{Done: &done.Completion}, nil
	}
	return Claim{}, err
}

// claimOf makes an acquire a claim: a payload hash to store and compare.
type claimOf struct{ payloadHash string }

// completedError is how an attempt reports a completed claim to Claim.
type completedError struct{ Completion }

func (e *completedError) Error() string { return "lock: claim completed" }

// claimFailed judges the item a claim's failed condition found: a
// completion, another payload, or a holder.
func claimFailed(id string, rec Record, now time.Time, hash string) error {
	if hash != "" && rec.PayloadHash != "" && rec.PayloadHash != hash {
		return fmt.Errorf("%w: %q", ErrPayloadMismatch, id)
	}
	if !rec.DoneUntil.IsZero() && now.Before(rec.DoneUntil) {
		return &completedError{Completion{Result: rec.Result, CompletedAt: rec.CompletedAt, ExpiresAt: rec.DoneUntil}}
	}
	return &HeldError{LockID: id, Holder: rec.Holder, At: now, Metadata: rec.Metadata}
}

// Complete marks the claim done and releases it, storing result (at most
// MaxResultBytes; nil stores none) for the duplicates that Claim answers
// until WithCompletionExpiry has passed: one conditional write, which goes
// through only while this lease holds the claim. If the lease was lost,
// the error matches ErrLockLost and nothing is stored: the work may run
// again. When the work is DynamoDB writes, pass AndComplete to Write
// instead, so that the writes and the completion happen together.
//
// After a completion (by Complete or AndComplete), Complete replaces the
// stored result: for work whose result is known only after its writes.
func (l *Lease) Complete(ctx context.Context, result []byte) error {
	if err := l.usable(); err != nil {
		return err
	}
	l.mu.Lock()
	completed := l.completed
	l.mu.Unlock()
	if completed {
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
		if rec, perr := ParseRecord(ccf.Item); perr != nil || rec.CompletedLease != l.leaseID {
			return fmt.Errorf("lock: complete %q: %w", l.id, l.lost(ccf.Item))
		}
		// An earlier attempt went through; its answer was lost.
	}
	l.mu.Lock()
	l.released, l.completed = true, true
	l.mu.Unlock()
	return nil
}

// amendResult replaces the result of the claim this lease completed, if
// the completion is still this lease's.
func (l *Lease) amendResult(ctx context.Context, result []byte) error {
	if len(result) > MaxResultBytes {
		return invalid("Complete: a result of %d bytes is more than the %d a lock item can hold; store it elsewhere and complete with a reference to it, or with none", len(result), MaxResultBytes)
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.client.table),
		Key:                       keyOf(l.id),
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
			return fmt.Errorf("lock: store the result of %q: %w", l.id, &LostError{LockID: l.id, Reason: "its completion was replaced by a later claim's"})
		}
		return fmt.Errorf("lock: store the result of %q: %w", l.id, err)
	}
	return nil
}

func (l *Lease) checkComplete(result []byte) error {
	switch {
	case !l.claim:
		return invalid("Complete: the lease of %q is not a claim (use Client.Claim)", l.id)
	case len(result) > MaxResultBytes:
		return invalid("Complete: a result of %d bytes is more than the %d a lock item can hold; store it elsewhere and complete with a reference to it, or with none", len(result), MaxResultBytes)
	}
	l.mu.Lock()
	released := l.released
	l.mu.Unlock()
	if released {
		return &LostError{LockID: l.id, Reason: "its holder released it before completing"}
	}
	return nil
}

// completion is the write that completes and releases the claim, on the
// condition that this lease holds it.
func (l *Lease) completion(result []byte) *types.Update {
	now := l.o.clock.Now()
	until := now.Add(l.o.completionExpiry)
	set := "SET #rel = :lease, #relAt = :now, #doneAt = :now, #done = :until, #doneLease = :lease, #ttl = :ttl"
	values := map[string]types.AttributeValue{
		":lease": sAttr(l.leaseID),
		":now":   nAttr(now.UnixMilli()),
		":until": nAttr(until.UnixMilli()),
		":ttl":   nAttr(cleanupAt(until, l.o.retention)),
	}
	names := map[string]string{
		"#rel": attrReleasedLease, "#relAt": attrReleasedAt, "#doneAt": attrCompletedAt, "#done": attrDoneUntil,
		"#doneLease": attrCompletedLease, "#ttl": TTLAttribute, "#lease": attrLease, "#result": attrResult,
	}
	expr := set + ", #result = :result"
	if result == nil {
		expr = set + " REMOVE #result"
	} else {
		values[":result"] = &types.AttributeValueMemberB{Value: result}
	}
	return &types.Update{
		TableName:                           aws.String(l.client.table),
		Key:                                 keyOf(l.id),
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String("#lease = :lease AND NOT (#rel = :lease)"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// AndComplete makes Write complete the claim, storing result, in the same
// transaction as the writes: the work's effects and its completion happen
// together or not at all, so a duplicate either finds the completion or
// finds nothing done. claim may be the lease Write is called on, or
// another (the lock of an entity the work changes, with its claim beside
// it).
func AndComplete(claim *Lease, result []byte) WriteOption {
	return func(o *writeOptions) { o.complete, o.result = claim, result }
}
