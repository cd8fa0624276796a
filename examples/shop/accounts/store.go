package accounts

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

// Attribute names of an account's item.
const (
	attrBalance  = "Balance"  // N: cents
	attrApplied  = "Applied"  // SS: IDs of transactions applied
	attrDeclined = "Declined" // SS: IDs of debits refused for lack of funds
)

// IDPrefix starts the application table ID of every account's item.
const IDPrefix = "account#"

// BalanceAttribute is the attribute (N, cents) holding an account's
// balance, which the nightly rollup sums.
const BalanceAttribute = attrBalance

// ID returns the application table ID of account's item.
func ID(account string) string { return IDPrefix + account }

// API is the part of *dynamodb.Client that a Store uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Store keeps account balances in the application table.
type Store struct {
	// DB is the DynamoDB client.
	DB API
	// Table is the application table's name.
	Table string
	// Think is simulated work between a transaction's read and its write
	// (see appdata.Think); zero outside the demo.
	Think time.Duration
}

// Account is an account as stored.
type Account struct {
	ID      string
	Balance int64
	// Applied and Declined are the IDs of the transactions applied and
	// refused.
	Applied  []string
	Declined []string
	// Token is the fencing token of the last fenced write, 0 if none.
	Token int64
}

// Result is what Apply did with a transaction.
type Result int

// The outcomes of Apply.
const (
	// Applied means the balance changed by the transaction's amount.
	Applied Result = iota + 1
	// Duplicate means the transaction had been handled already.
	Duplicate
	// Declined means the debit would have overdrawn the account; it is
	// recorded as declined.
	Declined
)

// String returns the result's name.
func (r Result) String() string {
	switch r {
	case Applied:
		return "applied"
	case Duplicate:
		return "duplicate"
	case Declined:
		return "declined"
	}
	return fmt.Sprintf("Result(%d)", int(r))
}

// Open creates account with balance cents, replacing any item it had.
func (s *Store) Open(ctx context.Context, account string, balance int64) error {
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table),
		Item: map[string]types.AttributeValue{
			appdata.PartitionKey: appdata.S(ID(account)),
			attrBalance:          appdata.N(balance),
		},
	})
	if err != nil {
		return fmt.Errorf("accounts: open %s: %w", account, err)
	}
	return nil
}

// Get reads account's item, strongly consistently. It returns an error
// matching appdata.ErrNotFound if there is none.
func (s *Store) Get(ctx context.Context, account string) (Account, error) {
	d, found, err := appdata.Read(ctx, s.DB, s.Table, ID(account))
	if err != nil {
		return Account{}, fmt.Errorf("accounts: get %s: %w", account, err)
	}
	if !found {
		return Account{}, fmt.Errorf("accounts: account %q: %w", account, appdata.ErrNotFound)
	}
	a := Account{
		ID:       account,
		Balance:  d.Int(attrBalance),
		Applied:  d.Strings(attrApplied),
		Declined: d.Strings(attrDeclined),
		Token:    d.Int(appdata.TokenAttribute),
	}
	if d.Err != nil {
		return Account{}, fmt.Errorf("accounts: decode %s: %w", account, d.Err)
	}
	return a, nil
}

// Apply applies tx: it reads the account's item, checks that tx is new and
// that a debit leaves the balance at zero or more, and writes the new
// balance back in one UpdateItem.
//
// token is the fencing token of the lease held on the account's lock. The
// write goes through only if no write carrying a newer token was made;
// otherwise Apply returns an error matching appdata.ErrStaleToken and
// changes nothing. Token 0 means no lock is held and writes without that
// condition, so concurrent calls for one account lose updates.
func (s *Store) Apply(ctx context.Context, tx Transaction, token int64) (Result, error) {
	if err := tx.Validate(); err != nil {
		return 0, err
	}
	a, err := s.Get(ctx, tx.AccountID)
	if err != nil {
		return 0, err
	}
	if slices.Contains(a.Applied, tx.TransactionID) || slices.Contains(a.Declined, tx.TransactionID) {
		return Duplicate, nil
	}
	if err := appdata.Think(ctx, s.Think); err != nil {
		return 0, fmt.Errorf("accounts: apply %s: %w", tx.TransactionID, err)
	}
	u := appdata.FencedUpdate{ID: ID(tx.AccountID), AddTo: attrDeclined, Member: tx.TransactionID, Token: token}
	res := Declined
	if a.Balance+tx.Amount >= 0 {
		res, u.AddTo = Applied, attrApplied
		u.Set = map[string]types.AttributeValue{attrBalance: appdata.N(a.Balance + tx.Amount)}
	}
	if err := u.Send(ctx, s.DB, s.Table); err != nil {
		return 0, fmt.Errorf("accounts: apply %s to %s: %w", tx.TransactionID, tx.AccountID, err)
	}
	return res, nil
}
