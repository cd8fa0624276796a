package lock

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// maxWriteItems is how many items one Write may carry: DynamoDB's 100
// actions per transaction, less the lease's own check.
const maxWriteItems = 99

// transactWriteAPI is the part of DynamoDBAPI that Write uses.
type transactWriteAPI interface {
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// ErrWriteConditionFailed means a condition of one of the caller's items
// in a Write or Complete failed, so nothing was written. The error names
// the item (its position among the items, its table) and DynamoDB's
// reason.
var ErrWriteConditionFailed = errors.New("lock: a write's condition failed")

// writeConditionError reports the caller's item whose condition failed.
type writeConditionError struct {
	Index   int
	Table   string
	Message string
}

func (e *writeConditionError) Error() string {
	return fmt.Sprintf("lock: condition of write %d (table %q) failed: %s", e.Index, e.Table, e.Message)
}

func (e *writeConditionError) Is(target error) bool { return target == ErrWriteConditionFailed }

// writeOptions say what a transaction does beside the caller's items.
type writeOptions struct {
	release  bool
	complete *part // a claim to complete in the transaction
	result   []byte
	others   []*part // further locks the writes need
}

// Write applies items — Put, Update, Delete or ConditionCheck actions on
// any tables in the lock table's account and region — in one
// TransactWriteItems, together with a check that this lease still holds
// every one of its locks (and its claim): its lease ID is each lock's
// current one and none was released or force-released. So the writes
// happen only while no other holder can have the locks, even if this
// holder was paused past its lease: it is fencing without a token
// attribute in the application's items, and it holds after the lease's
// deadline as long as nobody has taken a lock over since. The lease stays
// held; Complete writes and releases in one step.
//
// If a lock was lost, nothing is written and the error matches
// ErrLockLost. If one of the items' own conditions failed, nothing is
// written and the error matches ErrWriteConditionFailed. Other failures
// wrap the SDK's error; after one that left the outcome unknown (no
// answer), the writes may or may not have been applied. The SDK's retries
// of one Write are harmless: they carry the same ClientRequestToken, which
// DynamoDB applies at most once within ten minutes.
//
// At most 100 actions fit in a transaction: the items and one per lock.
// Each lock item costs its transaction's share of capacity (a
// transactional check or write of about 0.5 KB).
func (l *Lease) Write(ctx context.Context, items ...types.TransactWriteItem) error {
	if err := l.usable(); err != nil {
		return err
	}
	if len(items) == 0 {
		return invalid("Write: no items")
	}
	parts := l.parts()
	return parts[0].write(ctx, items, writeOptions{others: parts[1:]})
}

// Complete ends the work done under the lease: it applies items (if any),
// stores result as the claim's result (for a lease from Claim; at most
// MaxResultBytes, nil for none) and releases every lock, in one
// transaction on the condition that the lease still holds them all. So a
// duplicate of the work finds either the effects and the completion, or
// neither. A lease of one lock without items sends one conditional write
// instead of a transaction.
//
// A completed claim answers its duplicates with result until the
// completion expires (Config.CompletionExpiry). Complete again after a
// completion replaces the stored result with a non-nil one (for work whose
// result is known only after its writes); with nil it keeps what was
// stored. Release after a completion changes nothing. A result
// given to a lease without a claim is refused with ErrInvalidInput, before
// any request: it would be dropped.
//
// If a lock or the claim was lost, nothing is written and the error
// matches ErrLockLost: the work may run again. A failed condition of one of
// the items matches ErrWriteConditionFailed. Other failures wrap the SDK's
// error, as Write's do.
func (l *Lease) Complete(ctx context.Context, result []byte, items ...types.TransactWriteItem) error {
	if err := l.usable(); err != nil {
		return err
	}
	if l.claim == nil && result != nil {
		return invalid("Complete: a result given to a lease that holds no claim (use Client.Claim): it would be dropped")
	}
	if len(result) > MaxResultBytes {
		return invalid("Complete: a result of %d bytes is more than the %d a lock item can hold; store it elsewhere and complete with a reference to it, or with none", len(result), MaxResultBytes)
	}
	parts := l.parts()
	if len(items) == 0 && len(parts) == 1 {
		if parts[0] == l.claim {
			return parts[0].complete(ctx, result)
		}
		return parts[0].release(ctx)
	}
	if l.claim != nil && l.claim.isCompleted() {
		// Completed by an earlier Complete of this lease (with items: the
		// locks were released with it): only the result may change.
		if len(items) > 0 {
			return invalid("Complete: the claim %q was completed already, with its writes; nothing more may be written under it", l.claim.id)
		}
		return l.claim.complete(ctx, result)
	}
	o := writeOptions{release: true, others: parts[1:]}
	if l.claim != nil {
		o.complete, o.result = l.claim, result
	}
	return parts[0].write(ctx, items, o)
}

// write applies items with the lease checks (and release, completion)
// that o asks for: the caller's items, then one action per lock involved.
func (l *part) write(ctx context.Context, items []types.TransactWriteItem, o writeOptions) error {
	db, ok := l.client.db.(transactWriteAPI)
	switch {
	case !ok:
		return invalid("Write: the DynamoDB client (%T) has no TransactWriteItems method", l.client.db)
	case len(items)+len(o.others)+1 > maxWriteItems+1:
		return invalid("Write: %d items and %d locks, more than the 100 actions a transaction can carry", len(items), len(o.others)+1)
	}
	if err := l.checkWrite(); err != nil {
		return err
	}
	// The transaction: the caller's items, then one action per lease
	// involved, each conditional on that lease holding its lock.
	all := append(make([]types.TransactWriteItem, 0, len(items)+2), items...)
	var leases []*part
	if c := o.complete; c != nil {
		if err := c.usable(); err != nil {
			return err
		}
		if err := c.checkComplete(o.result); err != nil {
			return err
		}
		if c != l && c.client.table == l.client.table && c.id == l.id {
			return invalid("Write: the claim and the lease are two leases of one lock %q", l.id)
		}
		all = append(all, types.TransactWriteItem{Update: c.completion(o.result)})
		leases = append(leases, c)
	}
	seen := map[string]bool{}
	for _, x := range append([]*part{l}, o.others...) {
		if x == o.complete {
			continue
		}
		if err := x.usable(); err != nil {
			return err
		}
		if err := x.checkWrite(); err != nil {
			return err
		}
		if k := x.client.table + "\x00" + x.id; seen[k] {
			return invalid("Write: two leases of one lock %q", x.id)
		} else {
			seen[k] = true
		}
		all = append(all, x.leaseCheck(o.release))
		leases = append(leases, x)
	}
	if len(all) > maxWriteItems+1 {
		return invalid("Write: %d items and %d leases, more than the 100 actions a transaction can carry", len(items), len(leases))
	}
	var sent attempts
	earlier := false
	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: all}, sent.option())
	if err != nil {
		err = writeFailed(err, all, leases, o.release)
		if errors.Is(err, errFinishedEarlier) {
			earlier = true // an earlier Complete of this lease went through
		} else {
			if o.release && sent.any() {
				for _, x := range leases {
					x.mu.Lock()
					x.finishSent = true
					x.mu.Unlock()
				}
			}
			return err
		}
	}
	for _, x := range leases {
		if x == o.complete || o.release {
			x.mu.Lock()
			x.released = true
			if x == o.complete {
				x.completed = true
				// After an earlier Complete went through, what it stored
				// is not known here.
				x.stored, x.storedKnown = o.result, !earlier
			}
			x.mu.Unlock()
		}
	}
	return nil
}

func (l *part) checkWrite() error {
	l.mu.Lock()
	released := l.released
	l.mu.Unlock()
	if released {
		return &lostError{LockID: l.id, Reason: "its holder released it before the write"}
	}
	return nil
}

// leaseCheck is the transaction's action on the lock item: a condition
// that the lease holds the lock, or, with release, the release itself on
// the same condition.
func (l *part) leaseCheck(release bool) types.TransactWriteItem {
	if l.permits > 1 {
		return l.permitLeaseCheck(release)
	}
	const held = "#lease = :lease AND NOT (#rel = :lease) AND #tok = :tok" // the lease, with its token (granted.go)
	if !release {
		return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName:                           aws.String(l.client.table),
			Key:                                 l.client.keyOf(l.id),
			ConditionExpression:                 aws.String(held),
			ExpressionAttributeNames:            map[string]string{"#lease": attrLease, "#rel": attrReleasedLease, "#tok": attrToken},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":lease": sAttr(l.leaseID), ":tok": nAttr(l.token)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}}
	}
	in := l.client.releaseInput(l.id, l.leaseID, l.o.Now(), l.o.Retention)
	delete(in.ExpressionAttributeNames, "#forced") // the condition below covers it: forced leases are released
	in.ExpressionAttributeNames["#tok"], in.ExpressionAttributeValues[":tok"] = attrToken, nAttr(l.token)
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                           in.TableName,
		Key:                                 in.Key,
		UpdateExpression:                    in.UpdateExpression,
		ConditionExpression:                 aws.String(held),
		ExpressionAttributeNames:            in.ExpressionAttributeNames,
		ExpressionAttributeValues:           in.ExpressionAttributeValues,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
}

// writeFailed turns a failed transaction into the error Write returns: a
// lease's loss first, then the caller's failed condition, else the SDK's
// error. leases are those of the last actions of all, in order.
func writeFailed(err error, all []types.TransactWriteItem, leases []*part, finishing bool) error {
	last := leases[len(leases)-1]
	var tc *types.TransactionCanceledException
	if !errors.As(err, &tc) || len(tc.CancellationReasons) != len(all) {
		return fmt.Errorf("lock: write under %q: %w", last.id, err)
	}
	first := len(all) - len(leases)
	if finishing && finishedEarlier(tc.CancellationReasons[first:], leases) {
		return errFinishedEarlier
	}
	for i, l := range leases {
		if r := tc.CancellationReasons[first+i]; aws.ToString(r.Code) == "ConditionalCheckFailed" {
			return fmt.Errorf("lock: write under %q: %w", l.id, l.lost(r.Item))
		}
	}
	for i, r := range tc.CancellationReasons[:first] {
		if aws.ToString(r.Code) == "ConditionalCheckFailed" {
			return &writeConditionError{Index: i, Table: tableOf(all[i]), Message: aws.ToString(r.Message)}
		}
	}
	return fmt.Errorf("lock: write under %q: %w", last.id, err)
}

// errFinishedEarlier says that a Complete's transaction was refused
// because an earlier Complete of the same lease, whose answer was lost,
// went through.
var errFinishedEarlier = errors.New("lock: an earlier Complete of this lease went through")

// finishedEarlier reports whether every lock's condition of a Complete
// failed on an item that this very lease released (or, for the claim,
// completed), after a Complete of this lease whose outcome was unknown:
// then that one went through, writes and all, and this one changes
// nothing.
func finishedEarlier(reasons []types.CancellationReason, leases []*part) bool {
	for i, l := range leases {
		l.mu.Lock()
		sent := l.finishSent
		l.mu.Unlock()
		if !sent || aws.ToString(reasons[i].Code) != "ConditionalCheckFailed" {
			return false
		}
		if l.permits > 1 {
			if !l.permitFinishedEarlier(reasons[i].Item) {
				return false
			}
			continue
		}
		rec, err := l.client.parseRecord(reasons[i].Item)
		if err != nil || rec.LeaseID != l.leaseID || l.revived(rec) || !rec.Released || rec.Forced || (l.claim && rec.CompletedLease != l.leaseID) {
			return false
		}
	}
	return true
}

func tableOf(it types.TransactWriteItem) string {
	switch {
	case it.Put != nil:
		return aws.ToString(it.Put.TableName)
	case it.Update != nil:
		return aws.ToString(it.Update.TableName)
	case it.Delete != nil:
		return aws.ToString(it.Delete.TableName)
	case it.ConditionCheck != nil:
		return aws.ToString(it.ConditionCheck.TableName)
	}
	return ""
}
