// Package rollup is the nightly-rollup job's logic: it sums every
// account's balance into one rollup item. Runs must never overlap; each
// run marks the item when it starts and checks at its end that no other
// run started since, counting the overlaps it finds.
package rollup

// LockNamespace is the namespace of the function's lock IDs under the
// middleware: nightly-rollup's lock is "job/nightly-rollup". The CDK stack grants the function exactly the lock
// IDs with this prefix.
const LockNamespace = "job"
