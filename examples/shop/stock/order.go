package stock

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrInvalidOrder means an order message could not be used: it is not
// JSON of an Order, or a field is missing or out of range. Retrying it
// cannot help.
var ErrInvalidOrder = errors.New("stock: invalid order")

// Order asks for units of one SKU: the body of a reserve-stock message,
// such as {"orderId":"o-1001","sku":"BLUE-MUG","quantity":2}.
type Order struct {
	OrderID  string `json:"orderId"`
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// ParseOrder decodes and validates a message body.
func ParseOrder(body string) (Order, error) {
	var o Order
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		return Order{}, fmt.Errorf("%w: %w", ErrInvalidOrder, err)
	}
	return o, o.Validate()
}

// Validate reports whether o names an order and a SKU and asks for at
// least one unit.
func (o Order) Validate() error {
	switch {
	case o.OrderID == "":
		return fmt.Errorf("%w: orderId is empty", ErrInvalidOrder)
	case o.SKU == "":
		return fmt.Errorf("%w: order %s: sku is empty", ErrInvalidOrder, o.OrderID)
	case o.Quantity <= 0:
		return fmt.Errorf("%w: order %s: quantity %d, want at least 1", ErrInvalidOrder, o.OrderID, o.Quantity)
	}
	return nil
}
