package stock

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
)

// Handler is the reserve-stock function's record handler, for
// middleware.WrapSQS keyed by the body's "sku".
type Handler struct {
	// Store is where stock is kept.
	Store *Store
	// Log, if not nil, receives one line per record handled.
	Log *slog.Logger
}

// Record reserves the order in one SQS message's body. It fences its write
// with the token of the lease in ctx (see lock.FromContext) and writes
// unfenced when ctx carries none, as when locking is disabled. An error
// fails the record, so SQS delivers it again; a duplicate or out-of-stock
// order is handled and not an error.
func (h *Handler) Record(ctx context.Context, m events.SQSMessage) error {
	o, err := ParseOrder(m.Body)
	if err != nil {
		return err
	}
	var token int64
	if l, ok := lock.FromContext(ctx); ok {
		token = l.FencingToken()
	}
	res, err := h.Store.Reserve(ctx, o, token)
	if err != nil {
		return err
	}
	h.log().InfoContext(ctx, "order handled", "messageId", m.MessageId, "orderId", o.OrderID, "sku", o.SKU,
		"quantity", o.Quantity, "result", res.String(), "fencingToken", token)
	return nil
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}
