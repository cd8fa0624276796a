package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
)

// The detail-types of the events the account-events function handles.
const (
	// Credited events add the detail's amount to the account.
	Credited = "AccountCredited"
	// Debited events take the detail's amount from the account.
	Debited = "AccountDebited"
)

// FromEvent returns the transaction an EventBridge event describes. Its
// detail-type is Credited or Debited and its detail names the account and
// a positive amount in cents: {"accountId":"42","amount":10}. The
// transaction ID is the detail's "transactionId" if given, else the
// event's id, which EventBridge keeps across redeliveries.
func FromEvent(e events.EventBridgeEvent) (Transaction, error) {
	var d struct {
		AccountID     string `json:"accountId"`
		TransactionID string `json:"transactionId"`
		Amount        int64  `json:"amount"`
	}
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return Transaction{}, fmt.Errorf("%w: event %s: detail: %w", ErrInvalidTransaction, e.ID, err)
	}
	if d.Amount <= 0 {
		return Transaction{}, fmt.Errorf("%w: event %s: amount %d, want more than 0", ErrInvalidTransaction, e.ID, d.Amount)
	}
	tx := Transaction{AccountID: d.AccountID, TransactionID: d.TransactionID, Amount: d.Amount}
	if tx.TransactionID == "" {
		tx.TransactionID = e.ID
	}
	switch e.DetailType {
	case Credited:
	case Debited:
		tx.Amount = -tx.Amount
	default:
		return Transaction{}, fmt.Errorf("%w: event %s: detail-type %q, want %q or %q", ErrInvalidTransaction, e.ID, e.DetailType, Credited, Debited)
	}
	return tx, tx.Validate()
}

// Outcome is what the account-events function returns for one event.
type Outcome struct {
	AccountID     string `json:"accountId"`
	TransactionID string `json:"transactionId"`
	Result        string `json:"result"`
}

// Handler is the account-events function's handler, for middleware.Wrap
// keyed by the detail's "accountId".
type Handler struct {
	// Store is where balances are kept.
	Store *Store
	// Log, if not nil, receives one line per event handled.
	Log *slog.Logger
}

// Handle applies the transaction the event describes with
// Store.ApplyLeased: its write is checked against the account's lease in
// ctx (and completes the event's idempotency claim, under
// middleware.WithIdempotency), and goes unguarded when ctx carries none,
// as when locking is disabled. An error makes Lambda retry the event; a
// declined transaction is handled and not an error.
func (h *Handler) Handle(ctx context.Context, e events.EventBridgeEvent) (Outcome, error) {
	tx, err := FromEvent(e)
	if err != nil {
		return Outcome{}, err
	}
	res, err := h.Store.ApplyLeased(ctx, tx)
	if err != nil {
		return Outcome{}, err
	}
	var token int64
	if l, ok := lock.FromContext(ctx); ok {
		token = l.FencingToken()
	}
	h.log().InfoContext(ctx, "transaction handled", "eventId", e.ID, "accountId", tx.AccountID,
		"transactionId", tx.TransactionID, "amount", tx.Amount, "result", res.String(), "fencingToken", token)
	return Outcome{AccountID: tx.AccountID, TransactionID: tx.TransactionID, Result: res.String()}, nil
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}
