package middleware

import (
	"context"
	"fmt"
	"log/slog"
)

// White-box access for the package's external tests (package
// middleware_test). Nothing here is part of the API.

// ErrBatchFailed, ErrNoSequenceNumber and ErrNoResult are the unexported
// sentinels the tests match with errors.Is.
var (
	ErrBatchFailed      = errBatchFailed
	ErrNoSequenceNumber = errNoSequenceNumber
	ErrNoResult         = errNoResult
)

// QueueURL is queueURL.
func QueueURL(queueARN string) (string, error) { return queueURL(queueARN) }

// LockID is the lock ID the wrappers lock for key under namespace.
func LockID(namespace, key string) string { return lockIDs(namespace, []string{key})[0] }

// EvalKey derives the keys of event as a wrapper does before it turns them
// into lock IDs: the Key's configuration error (a zero Key, an expression
// that does not compile), or its keys checked (none empty, none a claim's),
// a panic of the key being an error. Its errors carry no event ID.
func EvalKey[T any](ctx context.Context, k Key[T], event T) ([]string, error) {
	switch {
	case k.err != nil:
		return nil, k.err
	case k.fn == nil:
		return nil, fmt.Errorf("the zero Key")
	}
	ks, err := callKey(ctx, k, event, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	return checkKeys(k.describe(), ks)
}
