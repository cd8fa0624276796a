package stock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/internal/appdata"
)

// Attribute names of a SKU's item.
const (
	attrAvailable = "Available" // N: units not reserved
	attrReserved  = "Reserved"  // N: units reserved
	attrOrders    = "Orders"    // SS: IDs of orders reserved
	attrRejected  = "Rejected"  // SS: IDs of orders refused for lack of stock
)

// API is the part of *dynamodb.Client that a Store uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Store keeps SKUs' stock in the application table.
type Store struct {
	// DB is the DynamoDB client.
	DB API
	// Table is the application table's name.
	Table string
	// Think is simulated work between a reservation's read and its write
	// (see appdata.Think); zero outside the demo.
	Think time.Duration
}

// Item is a SKU's stock as stored.
type Item struct {
	SKU       string
	Available int64
	Reserved  int64
	// Orders and Rejected are the IDs of the orders reserved and refused.
	Orders   []string
	Rejected []string
	// Token is the fencing token of the last fenced write, 0 if none.
	Token int64
}

// Result is what Reserve did with an order.
type Result int

// The outcomes of Reserve.
const (
	// Reserved means the order's units were reserved.
	Reserved Result = iota + 1
	// Duplicate means the order had been handled already; nothing changed.
	Duplicate
	// OutOfStock means too few units were available; the order is
	// recorded as rejected.
	OutOfStock
)

// String returns the result's name.
func (r Result) String() string {
	switch r {
	case Reserved:
		return "reserved"
	case Duplicate:
		return "duplicate"
	case OutOfStock:
		return "out of stock"
	}
	return fmt.Sprintf("Result(%d)", int(r))
}

// ID returns the application table ID of sku's item.
func ID(sku string) string { return "sku#" + sku }

// Put sets sku's stock to available units, none reserved, replacing any
// item the SKU had.
func (s *Store) Put(ctx context.Context, sku string, available int64) error {
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table),
		Item: map[string]types.AttributeValue{
			appdata.PartitionKey: appdata.S(ID(sku)),
			attrAvailable:        appdata.N(available),
			attrReserved:         appdata.N(0),
		},
	})
	if err != nil {
		return fmt.Errorf("stock: put %s: %w", sku, err)
	}
	return nil
}

// Get reads sku's item, strongly consistently. It returns an error
// matching appdata.ErrNotFound if the SKU has none.
func (s *Store) Get(ctx context.Context, sku string) (Item, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            appdata.Key(ID(sku)),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Item{}, fmt.Errorf("stock: get %s: %w", sku, err)
	}
	if out.Item == nil {
		return Item{}, fmt.Errorf("stock: SKU %q: %w", sku, appdata.ErrNotFound)
	}
	it := Item{SKU: sku}
	errs := []error{}
	var e error
	it.Available, e = appdata.Int(out.Item, attrAvailable)
	errs = append(errs, e)
	it.Reserved, e = appdata.Int(out.Item, attrReserved)
	errs = append(errs, e)
	it.Orders, e = appdata.Strings(out.Item, attrOrders)
	errs = append(errs, e)
	it.Rejected, e = appdata.Strings(out.Item, attrRejected)
	errs = append(errs, e)
	it.Token, e = appdata.Int(out.Item, appdata.TokenAttribute)
	errs = append(errs, e)
	if err := errors.Join(errs...); err != nil {
		return Item{}, fmt.Errorf("stock: decode %s: %w", sku, err)
	}
	return it, nil
}

// Reserve reserves o's units: it reads the SKU's item, checks that the
// order is new and that enough units are available, and writes the new
// counts back in one UpdateItem.
//
// token is the fencing token of the lease held on the SKU's lock. The
// write goes through only if no write carrying a newer token was made;
// otherwise Reserve returns an error matching appdata.ErrStaleToken and
// changes nothing. Token 0 means no lock is held and writes without that
// condition: concurrent calls for one SKU then lose updates, which is what
// the demo's run without locking shows.
func (s *Store) Reserve(ctx context.Context, o Order, token int64) (Result, error) {
	if err := o.Validate(); err != nil {
		return 0, err
	}
	it, err := s.Get(ctx, o.SKU)
	if err != nil {
		return 0, err
	}
	if slices.Contains(it.Orders, o.OrderID) || slices.Contains(it.Rejected, o.OrderID) {
		return Duplicate, nil
	}
	if err := appdata.Think(ctx, s.Think); err != nil {
		return 0, fmt.Errorf("stock: reserve %s: %w", o.OrderID, err)
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       appdata.Key(ID(o.SKU)),
		ExpressionAttributeNames:  map[string]string{"#id": appdata.PartitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":order": appdata.SS(o.OrderID)},
	}
	set := ""
	res := OutOfStock
	if it.Available >= o.Quantity {
		res = Reserved
		set = "SET #avail = :avail, #res = :res"
		in.ExpressionAttributeNames["#avail"], in.ExpressionAttributeNames["#res"] = attrAvailable, attrReserved
		in.ExpressionAttributeValues[":avail"] = appdata.N(it.Available - o.Quantity)
		in.ExpressionAttributeValues[":res"] = appdata.N(it.Reserved + o.Quantity)
		in.ExpressionAttributeNames["#set"] = attrOrders
	} else {
		in.ExpressionAttributeNames["#set"] = attrRejected
	}
	cond := "attribute_exists(#id)"
	if token != 0 {
		fc, names, values := appdata.Fence(token)
		cond += " AND (" + fc + ")"
		set = joinSet(set, appdata.FenceSet)
		for k, v := range names {
			in.ExpressionAttributeNames[k] = v
		}
		for k, v := range values {
			in.ExpressionAttributeValues[k] = v
		}
	}
	in.UpdateExpression = aws.String(set + " ADD #set :order")
	in.ConditionExpression = aws.String(cond)
	if _, err := s.DB.UpdateItem(ctx, in); err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return 0, fmt.Errorf("stock: reserve %s for order %s with token %d: %w", o.SKU, o.OrderID, token, appdata.ErrStaleToken)
		}
		return 0, fmt.Errorf("stock: reserve %s for order %s: %w", o.SKU, o.OrderID, err)
	}
	return res, nil
}

func joinSet(set, clause string) string {
	if set == "" {
		return "SET " + clause
	}
	return set + ", " + clause
}
