package accounts

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// ApplyLeased applies tx under the lease in ctx (the middleware's, or
// lock.Lock.Do's): it reads the account's item, checks that a debit leaves
// the balance at zero or more, and writes the new balance with
// lock.Lease.Complete, one transaction that goes through only while the
// lease still holds the account's lock, and releases it (under the
// middleware's idempotency it also completes the event's claim: a
// redelivered event is answered from the lock table and never reaches
// ApplyLeased). The transaction's ID is still added to the account's
// Applied (or Declined), as a record. The write is the last thing done
// under the lease.
//
// Without a lease in ctx (locking disabled) it writes unguarded with one
// UpdateItem, so concurrent calls for one account lose updates. A lease
// lost before the write fails with an error matching lock.ErrLockLost,
// and nothing changes. Apply is the same work fenced by a token instead,
// for stores that are not DynamoDB.
func (s *Store) ApplyLeased(ctx context.Context, tx Transaction) (Result, error) {
	if err := tx.Validate(); err != nil {
		return 0, err
	}
	a, err := s.Get(ctx, tx.AccountID)
	if err != nil {
		return 0, err
	}
	if err := appdata.Think(ctx, s.Think); err != nil {
		return 0, fmt.Errorf("accounts: apply %s: %w", tx.TransactionID, err)
	}
	names := map[string]string{"#id": appdata.PartitionKey, "#set": attrDeclined}
	values := map[string]types.AttributeValue{":member": appdata.SS(tx.TransactionID)}
	expr, res := "ADD #set :member", Declined
	if a.Balance+tx.Amount >= 0 {
		res, names["#set"], names["#bal"] = Applied, attrApplied, attrBalance
		values[":bal"] = appdata.N(a.Balance + tx.Amount)
		expr = "SET #bal = :bal " + expr
	}
	u := &types.Update{
		TableName:                 aws.String(s.Table),
		Key:                       appdata.Key(ID(tx.AccountID)),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(#id)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
	if lease, ok := lock.FromContext(ctx); ok {
		err = lease.Complete(ctx, nil, types.TransactWriteItem{Update: u})
	} else {
		_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression, ConditionExpression: u.ConditionExpression,
			ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		})
	}
	if err != nil {
		return 0, fmt.Errorf("accounts: apply %s to %s: %w", tx.TransactionID, tx.AccountID, err)
	}
	return res, nil
}

// TransactionKey is the account-events function's idempotency key: the
// event's transaction ID (FromEvent's: the detail's transactionId, else
// the event's id), so that a transaction is applied once however often it
// is delivered. An event that is not a valid transaction has no key.
func TransactionKey() middleware.Key[events.EventBridgeEvent] {
	return middleware.KeyFunc("transaction ID (detail.transactionId, else id)",
		func(_ context.Context, e events.EventBridgeEvent) ([]string, error) {
			tx, err := FromEvent(e)
			if err != nil {
				return nil, fmt.Errorf("%w: not a transaction: %w", middleware.ErrNoKey, err)
			}
			return []string{tx.TransactionID}, nil
		})
}
