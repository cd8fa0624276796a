// Package bench measures DynaLock against two floors and against its
// peer, cirello.io/dynamolock/v2, side by side on one DynamoDB Local: the
// replay floor (DynaLock's own requests sent again straight through the
// SDK: what its client costs) and the minimal-design floor (the smallest
// requests a fencing lock needs: what its request design costs), on
// loopback and with round-trip latency added, with their capacity and
// on-demand cost, a critical section with one application write, and a
// fair cold start. The measurements are Go benchmarks in this package's
// tests; cmd/benchreport runs them, prints one table and writes the
// figures as JSON. It is a module of its own so that the peer stays out of
// the library's dependencies.
package bench
