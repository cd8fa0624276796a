package stock

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/examples/shop/appdata"
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
	d, found, err := appdata.Read(ctx, s.DB, s.Table, ID(sku))
	if err != nil {
		return Item{}, fmt.Errorf("stock: get %s: %w", sku, err)
	}
	if !found {
		return Item{}, fmt.Errorf("stock: SKU %q: %w", sku, appdata.ErrNotFound)
	}
	it := Item{
		SKU:       sku,
		Available: d.Int(attrAvailable),
		Reserved:  d.Int(attrReserved),
		Orders:    d.Strings(attrOrders),
		Rejected:  d.Strings(attrRejected),
		Token:     d.Int(appdata.TokenAttribute),
	}
	if d.Err != nil {
		return Item{}, fmt.Errorf("stock: decode %s: %w", sku, d.Err)
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
	u := appdata.FencedUpdate{ID: ID(o.SKU), AddTo: attrRejected, Member: o.OrderID, Token: token}
	res := OutOfStock
	if it.Available >= o.Quantity {
		res, u.AddTo = Reserved, attrOrders
		u.Set = map[string]types.AttributeValue{
			attrAvailable: appdata.N(it.Available - o.Quantity),
			attrReserved:  appdata.N(it.Reserved + o.Quantity),
		}
	}
	if err := u.Send(ctx, s.DB, s.Table); err != nil {
		return 0, fmt.Errorf("stock: reserve %s for order %s: %w", o.SKU, o.OrderID, err)
	}
	return res, nil
}
