// Package shop is the example application that the Lambda functions
// under functions/ run: a shop that reserves stock for orders and raises
// low-stock alerts (package stock), keeps account balances (accounts) and
// sums them every night (rollup), in one DynamoDB application table
// (appdata) kept apart from the lock table.
//
// Each package holds one part of the domain with its function's handler
// and its tests; a function's main.go only reads its environment, builds
// its clients and wraps that handler with the middleware. The packages are
// public, not internal, for two reasons: a function's directory copied
// into another module builds once that module requires
// github.com/dynalock/dynalock, and the two functions that share a part of
// the domain (reserve-stock and low-stock-alerts the SKU items,
// account-events and account-transfers the balances), the local demo, the
// end-to-end tests and the CDK stack all use one copy of it. They are
// examples, not a supported API: copy them rather than depend on them.
package shop
