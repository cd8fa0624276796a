// Package accounts applies account transactions to balances in the
// application table: the account-events function's logic. Applying one
// reads the account's item, checks it, and writes it back guarded by the
// account lock's fencing token.
package accounts

// LockNamespace is the namespace of the function's lock IDs under the
// middleware: account-events' locks are "account/<accountId>". The CDK stack grants the function exactly the lock
// IDs with this prefix.
const LockNamespace = "account"
