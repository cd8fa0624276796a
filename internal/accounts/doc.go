// Package accounts applies account transactions to balances in the
// application table: the account-events function's logic. Applying one
// reads the account's item, checks it, and writes it back guarded by the
// account lock's fencing token.
package accounts
