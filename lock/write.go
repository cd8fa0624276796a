package lock

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// MaxWriteItems is how many items one Write may carry: DynamoDB's 100
// actions per transaction, less the lease's own check.
const MaxWriteItems = 99

// TransactWriteAPI is the part of *dynamodb.Client that Lease.Write uses
// beside DynamoDBAPI. A *dynamodb.Client has it.
type TransactWriteAPI interface {
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// ErrWriteConditionFailed means a condition of one of the caller's items
// in a Lease.Write failed, so nothing was written. Errors matching it are
// *WriteConditionError values, which say which item.
var ErrWriteConditionFailed = errors.New("lock: a write's condition failed")

// WriteConditionError reports the caller's item whose condition failed in
// a Lease.Write. It matches ErrWriteConditionFailed.
type WriteConditionError struct {
	// Index is the item's position in the items given to Write.
	Index int
	// Table is the item's table.
	Table string
	// Item is the item as it was, when the request asked for it
	// (ReturnValuesOnConditionCheckFailure ALL_OLD).
	Item map[string]types.AttributeValue
	// Message is DynamoDB's.
	Message string
}

func (e *WriteConditionError) Error() string {
	return fmt.Sprintf("lock: condition of write %d (table %q) failed: %s", e.Index, e.Table, e.Message)
}

// Is reports whether target is ErrWriteConditionFailed.
func (e *WriteConditionError) Is(target error) bool { return target == ErrWriteConditionFailed }

// WriteOption configures one Lease.Write.
type WriteOption func(*writeOptions)

type writeOptions struct {
	release  bool
	complete *Lease // a claim to complete in the transaction
	result   []byte
	others   []*Lease // further leases the writes need
}

// AlsoUnder makes Write check, in the same transaction, that each of
// others still holds its lock too (and release it as well, with
// AndRelease): for writes that need several locks, such as the leases of
// DoAll.
func AlsoUnder(others ...*Lease) WriteOption {
	return func(o *writeOptions) { o.others = append(o.others, others...) }
}

// AndRelease makes Write release the lock in the same transaction as the
// writes: the writes and the release are one request, and they happen
// together or not at all. The default is to keep the lock.
func AndRelease() WriteOption { return func(o *writeOptions) { o.release = true } }

// Write applies items — Put, Update, Delete or ConditionCheck actions on
// any tables in the lock table's account and region — in one
// TransactWriteItems, together with a check that this lease still holds the
// lock: its lease ID is the lock's current one and it was neither released
// nor force-released. So the writes happen only while no other holder can
// have the lock, even if this holder was paused past its lease: it is
// fencing without a token attribute in the application's items, and it
// holds after the lease's deadline as long as nobody has taken the lock
// over since.
//
// If the lease was lost, nothing is written and the error matches
// ErrLockLost. If one of the items' own conditions failed, nothing is
// written and the error is a *WriteConditionError naming the item. Other
// failures wrap the SDK's error; after one that left the outcome unknown
// (no answer), the writes may or may not have been applied. The SDK's
// retries of one Write are harmless: they carry the same
// ClientRequestToken, which DynamoDB applies at most once within ten
// minutes.
//
// The DynamoDB client must implement TransactWriteAPI, as a
// *dynamodb.Client does; the lock item costs its transaction's share of
// capacity (a transactional check or write of about 0.5 KB).
func (l *Lease) Write(ctx context.Context, items []types.TransactWriteItem, opts ...WriteOption) error {
	if err := l.usable(); err != nil {
		return err
	}
	db, ok := l.client.db.(TransactWriteAPI)
	switch {
	case !ok:
		return invalid("Write: the DynamoDB client (%T) has no TransactWriteItems method", l.client.db)
	case len(items) == 0:
		return invalid("Write: no items")
	case len(items) > MaxWriteItems:
		return invalid("Write: %d items, more than the %d a transaction can carry beside the lease's check", len(items), MaxWriteItems)
	}
	var o writeOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if err := l.checkWrite(); err != nil {
		return err
	}
	// The transaction: the caller's items, then one action per lease
	// involved, each conditional on that lease holding its lock.
	all := append(make([]types.TransactWriteItem, 0, len(items)+2), items...)
	var leases []*Lease
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
	for _, x := range append([]*Lease{l}, o.others...) {
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
	if len(all) > MaxWriteItems+1 {
		return invalid("Write: %d items and %d leases, more than the 100 actions a transaction can carry", len(items), len(leases))
	}
	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: all})
	if err != nil {
		return writeFailed(err, all, leases)
	}
	for _, x := range leases {
		if x == o.complete || o.release {
			x.mu.Lock()
			x.released = true
			x.completed = x.completed || x == o.complete
			x.mu.Unlock()
		}
	}
	return nil
}

func (l *Lease) checkWrite() error {
	l.mu.Lock()
	released := l.released
	l.mu.Unlock()
	if released {
		return &LostError{LockID: l.id, Reason: "its holder released it before the write"}
	}
	return nil
}

// leaseCheck is the transaction's action on the lock item: a condition
// that the lease holds the lock, or, with release, the release itself on
// the same condition.
func (l *Lease) leaseCheck(release bool) types.TransactWriteItem {
	const held = "#lease = :lease AND NOT (#rel = :lease)"
	if !release {
		return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName:                           aws.String(l.client.table),
			Key:                                 keyOf(l.id),
			ConditionExpression:                 aws.String(held),
			ExpressionAttributeNames:            map[string]string{"#lease": attrLease, "#rel": attrReleasedLease},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":lease": sAttr(l.leaseID)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}}
	}
	in := releaseInput(l.client.table, l.id, l.leaseID, l.o.clock.Now(), l.o.retention)
	delete(in.ExpressionAttributeNames, "#forced") // the condition below covers it: forced leases are released
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
func writeFailed(err error, all []types.TransactWriteItem, leases []*Lease) error {
	last := leases[len(leases)-1]
	var tc *types.TransactionCanceledException
	if !errors.As(err, &tc) || len(tc.CancellationReasons) != len(all) {
		return fmt.Errorf("lock: write under %q: %w", last.id, err)
	}
	first := len(all) - len(leases)
	for i, l := range leases {
		if r := tc.CancellationReasons[first+i]; aws.ToString(r.Code) == "ConditionalCheckFailed" {
			return fmt.Errorf("lock: write under %q: %w", l.id, l.lost(r.Item))
		}
	}
	for i, r := range tc.CancellationReasons[:first] {
		if aws.ToString(r.Code) == "ConditionalCheckFailed" {
			return &WriteConditionError{Index: i, Table: tableOf(all[i]), Item: r.Item, Message: aws.ToString(r.Message)}
		}
	}
	return fmt.Errorf("lock: write under %q: %w", last.id, err)
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
