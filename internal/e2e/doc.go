// Package e2e holds the end-to-end test: the example functions' own
// bootstrap binaries, built by the test, under the Lambda Runtime Interface
// Emulator against DynamoDB Local, driven as their triggers would drive
// them, through the same code as `make demo` (package demo).
package e2e
