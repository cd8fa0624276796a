// Package stock reserves stock for orders in the application table: the
// reserve-stock function's logic. A reservation reads a SKU's item, checks
// it, and writes it back guarded by the SKU lock's fencing token, so a
// holder whose lease ended can never overwrite its successor's write.
package stock

// LockNamespace is the namespace of the function's lock IDs under the
// middleware: reserve-stock's locks are "sku/<sku>". The CDK stack grants the function exactly the lock
// IDs with this prefix.
const LockNamespace = "sku"
