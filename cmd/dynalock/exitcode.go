package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/dynalock/dynalock/lock"
)

// Exit codes, listed in the help text. Scripts branch on them.
const (
	exitOK       = 0 // done, or nothing to do (the lock was already released)
	exitError    = 1 // anything else: network, an unreadable item, release not confirmed
	exitUsage    = 2 // bad command line, or a --token/--lease that cannot be the lock's (mistyped)
	exitNotFound = 3 // no such lock
	exitHeld     = 4 // the lock is someone else's: held (acquire) or changed hands since it was seen (release)
	exitDenied   = 5 // access denied or credentials rejected
	exitNoTable  = 6 // no such table
)

// codedError is an error that decides the process's exit code.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func withCode(code int, format string, args ...any) error {
	return &codedError{code: code, err: fmt.Errorf(format, args...)}
}

func usageError(format string, args ...any) error { return withCode(exitUsage, format, args...) }

// deniedCodes are the DynamoDB and STS error codes that mean the caller may
// not do what it asked, or its credentials were not accepted.
var deniedCodes = map[string]bool{
	"AccessDeniedException":               true,
	"AccessDenied":                        true,
	"UnrecognizedClientException":         true,
	"InvalidClientTokenId":                true,
	"InvalidSignatureException":           true,
	"IncompleteSignature":                 true,
	"IncompleteSignatureException":        true,
	"MissingAuthenticationToken":          true,
	"MissingAuthenticationTokenException": true,
	"ExpiredToken":                        true,
	"ExpiredTokenException":               true,
}

// classify returns the exit code for err and the message to print. table
// and endpoint ("": AWS's own) are the ones the command used.
func classify(err error, table, endpoint string) (int, string) {
	var coded *codedError
	var missing *types.ResourceNotFoundException
	var api smithy.APIError
	var netErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &coded):
		return coded.code, err.Error()
	case errors.Is(err, lock.ErrInvalidInput):
		return exitUsage, err.Error()
	case errors.Is(err, lock.ErrLockAlreadyAcquired):
		return exitHeld, err.Error()
	case errors.Is(err, context.Canceled):
		return exitError, "interrupted: " + err.Error()
	case errors.As(err, &dnsErr), errors.As(err, &netErr) && netErr.Op == "dial":
		return exitError, unreachable(endpoint, dnsErr, netErr)
	case errors.As(err, &missing):
		return exitNoTable, fmt.Sprintf("table %q not found: check --table and --region (for local development, `dynalock create-table` creates it): %v", table, err)
	case errors.As(err, &api) && deniedCodes[api.ErrorCode()]:
		return exitDenied, fmt.Sprintf("access denied (%s): check the credentials in use and the IAM policy on table %q: %v", api.ErrorCode(), table, err)
	}
	return exitError, strings.TrimSpace(err.Error())
}

// unreachable is the message for a request that found nobody to answer
// it, with the network's own error rather than the SDK's retry report.
func unreachable(endpoint string, dnsErr *net.DNSError, netErr *net.OpError) string {
	var cause error = netErr
	if dnsErr != nil {
		cause = dnsErr
	}
	if endpoint == "" {
		return fmt.Sprintf("cannot reach DynamoDB: %v. Check the network, and --region", cause)
	}
	return fmt.Sprintf("cannot reach DynamoDB at %s: %v. Is DynamoDB Local running there? "+
		"Check --endpoint (or $AWS_ENDPOINT_URL_DYNAMODB)", endpoint, cause)
}
