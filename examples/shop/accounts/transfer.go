package accounts

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/lock"
)

// TransferPathParameter is the path parameter of the account-transfers
// route, POST /accounts/{id}/transfers.
const TransferPathParameter = "id"

// TransferRoute is the account-transfers function's route.
const TransferRoute = "POST /accounts/{" + TransferPathParameter + "}/transfers"

// TransferFromBody returns the transaction a transfer request makes on
// account: its body, base64-encoded when isBase64 is set, is JSON such as
// {"transferId":"tr-1001","amount":-2500} (cents; negative takes money out
// of the account). The transfer ID is the transaction's ID, so a client
// that sends a transfer again changes the balance once.
func TransferFromBody(account, body string, isBase64 bool) (Transaction, error) {
	raw := []byte(body)
	if isBase64 {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(body); err != nil {
			return Transaction{}, fmt.Errorf("%w: body is not valid base64: %w", ErrInvalidTransaction, err)
		}
	}
	var b struct {
		TransferID string `json:"transferId"`
		Amount     int64  `json:"amount"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return Transaction{}, fmt.Errorf("%w: body: %w", ErrInvalidTransaction, err)
	}
	tx := Transaction{AccountID: account, TransactionID: b.TransferID, Amount: b.Amount}
	return tx, tx.Validate()
}

// TransferResult is the body of a transfer's successful response.
type TransferResult struct {
	AccountID  string `json:"accountId"`
	TransferID string `json:"transferId"`
	// Result is "applied" (201 Created) or "duplicate" (200 OK: the
	// transfer had been handled before).
	Result string `json:"result"`
}

// TransferHandler is the account-transfers function's handler, for an
// API Gateway HTTP API route TransferRoute under middleware.WrapHTTP, keyed
// by the path parameter: it takes the lock "account/<id>", the one
// account-events takes, so a transfer and an account event never change
// one balance at once.
type TransferHandler struct {
	// Store is where balances are kept.
	Store *Store
	// Log, if not nil, receives one line per transfer handled.
	Log *slog.Logger
}

// Handle applies the transfer the request describes and answers: 201 when
// applied, 200 for a transfer applied or declined before, 422 when a
// debit would overdraw the account (it is recorded as declined), 404 for
// an unknown account, 400 for a body it cannot use; other failures are
// errors. It fences its write with the token of the lease in ctx, as
// Handler.Handle does.
func (h *TransferHandler) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	tx, err := TransferFromBody(req.PathParameters[TransferPathParameter], req.Body, req.IsBase64Encoded)
	if err != nil {
		return problem(http.StatusBadRequest, err.Error()), nil
	}
	var token int64
	if l, ok := lock.FromContext(ctx); ok {
		token = l.FencingToken()
	}
	res, err := h.Store.Apply(ctx, tx, token)
	switch {
	case errors.Is(err, appdata.ErrNotFound):
		return problem(http.StatusNotFound, fmt.Sprintf("no account %q", tx.AccountID)), nil
	case err != nil:
		return events.APIGatewayV2HTTPResponse{}, err
	}
	h.log().InfoContext(ctx, "transfer handled", "accountId", tx.AccountID, "transferId", tx.TransactionID,
		"amount", tx.Amount, "result", res.String(), "fencingToken", token)
	switch res {
	case Declined:
		return problem(http.StatusUnprocessableEntity, fmt.Sprintf("transfer %s would overdraw account %s: declined", tx.TransactionID, tx.AccountID)), nil
	case Duplicate:
		return jsonResponse(http.StatusOK, TransferResult{tx.AccountID, tx.TransactionID, res.String()}), nil
	}
	return jsonResponse(http.StatusCreated, TransferResult{tx.AccountID, tx.TransactionID, res.String()}), nil
}

func (h *TransferHandler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

func jsonResponse(status int, v any) events.APIGatewayV2HTTPResponse {
	b, _ := json.Marshal(v) // strings only: cannot fail
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(b)}
}

// problem is an RFC 9457 answer of the handler's own.
func problem(status int, detail string) events.APIGatewayV2HTTPResponse {
	b, _ := json.Marshal(map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail})
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/problem+json"}, Body: string(b)}
}
