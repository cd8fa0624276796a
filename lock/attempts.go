package lock

import (
	"context"
	"errors"
	"sync"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// attempts watches the attempts the SDK makes of one request, so that a
// release whose last attempt failed its condition can tell whether an
// earlier attempt may have gone through: one that got no answer, or a 5xx,
// may have been applied; one answered with a 4xx (throttling, a failed
// condition) was not. It works with any DynamoDBAPI that passes its
// per-call options to a *dynamodb.Client; with one that does not, it sees
// no attempt, and the release assumes the worst.
type attempts struct {
	mu sync.Mutex // protects the fields below
	n  int
	// earlierMaybeApplied: an attempt before the latest may have been
	// applied; latestMaybeApplied: the latest may have been.
	earlierMaybeApplied, latestMaybeApplied bool
}

// option returns the per-call option that records each attempt.
func (a *attempts) option() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			// The end of the finalize step runs once per attempt, inside the
			// SDK's retry loop.
			return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("DynaLockAttempts", a.handle), middleware.After)
		})
	}
}

func (a *attempts) handle(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleFinalize(ctx, in)
	a.mu.Lock()
	a.n++
	a.earlierMaybeApplied = a.earlierMaybeApplied || a.latestMaybeApplied
	a.latestMaybeApplied = err != nil && mayHaveBeenApplied(err)
	a.mu.Unlock()
	return out, md, err
}

// earlier reports whether an attempt before the last may have been
// applied; true when no attempt was seen.
func (a *attempts) earlier() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n == 0 || a.earlierMaybeApplied
}

// any reports whether any attempt may have been applied; true when no
// attempt was seen.
func (a *attempts) any() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n == 0 || a.earlierMaybeApplied || a.latestMaybeApplied
}

// mayHaveBeenApplied reports whether a failed attempt may have been applied
// by DynamoDB: any failure but an answer with a 4xx status.
func mayHaveBeenApplied(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		code := re.HTTPStatusCode()
		return code < 400 || code >= 500
	}
	return true
}
