// Package demo runs the example functions end to end on one machine: their
// own bootstrap binaries under the Lambda Runtime Interface Emulator,
// several execution environments per function, against DynamoDB Local.
//
// A Stack owns every process it starts and stops them all in Close. The
// loads (DeliverSQS, FireEvents, FireTogether) drive functions as their
// triggers would: SQS redelivers the records a batch response names,
// EventBridge retries failed asynchronous invocations, and DeliverStream
// reads a table's real DynamoDB stream and delivers again from the sequence
// number a stream batch response names. Crash kills a
// function mid-handler while it holds a lock and measures when the lock
// frees itself. Run is the whole demo, which cmd/demo prints; the
// end-to-end test drives the same pieces.
package demo
