package accounts

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrInvalidTransaction means a transaction could not be used: its detail
// is not JSON of a Transaction, or a field is missing. Retrying it cannot
// help.
var ErrInvalidTransaction = errors.New("accounts: invalid transaction")

// Transaction moves money into (Amount > 0) or out of (Amount < 0) one
// account: the detail of an account-events EventBridge event, such as
// {"accountId":"acct-1","transactionId":"tx-1","amount":-2500}. Amounts
// are in cents.
type Transaction struct {
	AccountID     string `json:"accountId"`
	TransactionID string `json:"transactionId"`
	Amount        int64  `json:"amount"`
}

// ParseTransaction decodes and validates an event's detail.
func ParseTransaction(detail []byte) (Transaction, error) {
	var tx Transaction
	if err := json.Unmarshal(detail, &tx); err != nil {
		return Transaction{}, fmt.Errorf("%w: %w", ErrInvalidTransaction, err)
	}
	return tx, tx.Validate()
}

// Validate reports whether tx names an account and a transaction and
// moves a non-zero amount.
func (tx Transaction) Validate() error {
	switch {
	case tx.AccountID == "":
		return fmt.Errorf("%w: accountId is empty", ErrInvalidTransaction)
	case tx.TransactionID == "":
		return fmt.Errorf("%w: account %s: transactionId is empty", ErrInvalidTransaction, tx.AccountID)
	case tx.Amount == 0:
		return fmt.Errorf("%w: transaction %s: amount is zero", ErrInvalidTransaction, tx.TransactionID)
	}
	return nil
}
