// Package accounts applies account transactions to balances in the
// application table: the account-events function's logic. Applying one
// reads the account's item, checks it, and writes it back in a transaction
// checked against the account lock's lease (Store.ApplyLeased, through
// lock.Lease.Complete), which under the middleware's idempotency also
// completes the event, so each transaction is applied once. Store.Apply is
// the same work fenced by the lease's token instead (a LastToken attribute
// and a set of applied IDs), the way to go with storage that cannot check
// a lease.
package accounts

// LockNamespace is the namespace of the function's lock IDs under the
// middleware: account-events' locks are "account/<accountId>". The CDK stack grants the function exactly the lock
// IDs with this prefix.
const LockNamespace = "account"
