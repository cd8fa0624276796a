// Package stock reserves stock for orders in the application table: the
// reserve-stock function's logic. A reservation reads a SKU's item, checks
// it, and writes it back in a transaction checked against the SKU lock's
// lease (Store.ReserveLeased, through lock.Lease.Complete), so a holder whose
// lease ended can never overwrite its successor's write; under the
// middleware's idempotency the same transaction completes the order, so
// each order is reserved once. Store.Reserve is the same work fenced by
// the lease's token instead (a LastToken attribute and an order set), the
// way to go with storage that cannot check a lease.
package stock

// LockNamespace is the namespace of the function's lock IDs under the
// middleware: reserve-stock's locks are "sku/<sku>". The CDK stack grants the function exactly the lock
// IDs with this prefix.
const LockNamespace = "sku"
