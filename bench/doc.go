// Package bench measures DynaLock against the floor of its own DynamoDB
// requests (the same conditional writes sent straight through the SDK) and
// against its peer, cirello.io/dynamolock/v2, side by side on one DynamoDB
// Local. The measurements are Go benchmarks in this package's tests;
// cmd/benchreport runs them, prints one table and writes the figures as
// JSON. It is a module of its own so that the peer stays out of the
// library's dependencies.
package bench
