package stock

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/lock"
)

// ReserveLeased reserves o's units under the lease in ctx (the
// middleware's, or lock.Lock.Do's): it reads the SKU's item, checks that
// enough units are available, and writes the new counts with
// lock.Lease.Complete, one transaction that goes through only while the
// lease still holds the SKU's lock, and releases it (under the
// middleware's idempotency it also completes the order's claim: a
// redelivered order is answered from the lock table and never reaches
// ReserveLeased). No token attribute and no order set are needed for that;
// the order's ID is still added to the SKU's Orders (or Rejected), as a
// record. The write is the last thing done under the lease.
//
// Without a lease in ctx (locking disabled) it writes unguarded with one
// UpdateItem: concurrent calls for one SKU then lose updates, which is
// what the demo's run without locking shows. A lease lost before the
// write fails with an error matching lock.ErrLockLost, and nothing
// changes. Reserve is the same work fenced by a token instead, for stores
// that are not DynamoDB.
func (s *Store) ReserveLeased(ctx context.Context, o Order) (Result, error) {
	if err := o.Validate(); err != nil {
		return 0, err
	}
	it, err := s.Get(ctx, o.SKU)
	if err != nil {
		return 0, err
	}
	if err := appdata.Think(ctx, s.Think); err != nil {
		return 0, fmt.Errorf("stock: reserve %s: %w", o.OrderID, err)
	}
	res, u := OutOfStock, reservation(s.Table, o, attrRejected, nil)
	if it.Available >= o.Quantity {
		res = Reserved
		u = reservation(s.Table, o, attrOrders, map[string]types.AttributeValue{
			":avail": appdata.N(it.Available - o.Quantity),
			":res":   appdata.N(it.Reserved + o.Quantity),
		})
	}
	if lease, ok := lock.FromContext(ctx); ok {
		err = lease.Complete(ctx, nil, types.TransactWriteItem{Update: u})
	} else {
		_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression, ConditionExpression: u.ConditionExpression,
			ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues,
		})
	}
	if err != nil {
		return 0, fmt.Errorf("stock: reserve %s for order %s: %w", o.SKU, o.OrderID, err)
	}
	return res, nil
}

// reservation is the update of o's SKU item: o's ID added to the set
// record, and, with counts (":avail", ":res"), the new counts set.
func reservation(table string, o Order, record string, counts map[string]types.AttributeValue) *types.Update {
	names := map[string]string{"#id": appdata.PartitionKey, "#set": record}
	values := map[string]types.AttributeValue{":member": appdata.SS(o.OrderID)}
	expr := "ADD #set :member"
	if counts != nil {
		names["#avail"], names["#res"] = attrAvailable, attrReserved
		for k, v := range counts {
			values[k] = v
		}
		expr = "SET #avail = :avail, #res = :res " + expr
	}
	return &types.Update{
		TableName:                 aws.String(table),
		Key:                       appdata.Key(ID(o.SKU)),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(#id)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}
