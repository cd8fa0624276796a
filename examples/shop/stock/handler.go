package stock

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// Handler is the reserve-stock function's record handler, for
// middleware.WrapSQS keyed by the body's "sku".
type Handler struct {
	// Store is where stock is kept.
	Store *Store
	// Log, if not nil, receives one line per record handled.
	Log *slog.Logger
}

// Record reserves the order in one SQS message's body with
// Store.ReserveLeased: its write is checked against the SKU's lease in ctx
// (and completes the order's idempotency claim, under
// middleware.WithIdempotency), and goes unguarded when ctx carries none,
// as when locking is disabled. An error fails the record, so SQS delivers
// it again; an out-of-stock order is handled and not an error.
func (h *Handler) Record(ctx context.Context, m events.SQSMessage) error {
	o, err := ParseOrder(m.Body)
	if err != nil {
		return err
	}
	res, err := h.Store.ReserveLeased(ctx, o)
	if err != nil {
		return err
	}
	var token int64
	if l, ok := lock.FromContext(ctx); ok {
		token = l.FencingToken()
	}
	h.log().InfoContext(ctx, "order handled", "messageId", m.MessageId, "orderId", o.OrderID, "sku", o.SKU,
		"quantity", o.Quantity, "result", res.String(), "fencingToken", token)
	return nil
}

// OrderKey is the reserve-stock function's idempotency key: the body's
// orderId, so that an order is reserved once however often, and in however
// many messages, it is delivered.
func OrderKey() middleware.Key[events.SQSMessage] {
	return middleware.SQSBody("orderId")
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}
