package demo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/internal/emulator"
)

// TransferOf returns the transaction of an account-transfers request.
func TransferOf(r events.APIGatewayV2HTTPRequest) (accounts.Transaction, error) {
	return accounts.TransferFromBody(r.PathParameters[accounts.TransferPathParameter], r.Body, r.IsBase64Encoded)
}

// AddTransfer records the transaction of an account-transfers request.
func (l *Ledger) AddTransfer(r events.APIGatewayV2HTTPRequest) error {
	tx, err := TransferOf(r)
	if err != nil {
		return fmt.Errorf("demo: request %s: %w", r.RequestContext.RequestID, err)
	}
	if l.Transactions[tx.AccountID] == nil {
		l.Transactions[tx.AccountID] = map[string]int64{}
	}
	l.Transactions[tx.AccountID][tx.TransactionID] = tx.Amount
	return nil
}

// CopyTransfer returns copy number n of a transfer request: its own
// request ID and transfer ID (in the body and the idempotency-key header),
// so that every copy is a new transfer on the same account.
func CopyTransfer(s Sample[events.APIGatewayV2HTTPRequest], n int) (events.APIGatewayV2HTTPRequest, error) {
	suffix := "-" + tag(s.File) + "-" + strconv.Itoa(n)
	r := s.Event
	body := []byte(r.Body)
	if r.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(r.Body); err != nil {
			return r, fmt.Errorf("demo: %s: %w", s.File, err)
		}
	}
	body, err := withField(body, "transferId", suffix)
	if err != nil {
		return r, fmt.Errorf("demo: %s: %w", s.File, err)
	}
	r.Body, r.IsBase64Encoded = string(body), false
	r.RequestContext.RequestID += suffix
	headers := make(map[string]string, len(r.Headers))
	for k, v := range r.Headers {
		headers[k] = v
	}
	if v, ok := headers["idempotency-key"]; ok {
		headers["idempotency-key"] = v + suffix
	}
	r.Headers = headers
	return r, nil
}

// HTTPResult is what became of HTTP requests sent by clients that retry.
type HTTPResult struct {
	Requests    int // requests sent, first attempts
	Invocations int // attempts, retries included
	// Conflicts counts 409 answers; Unavailable counts 503 answers.
	Conflicts, Unavailable int
	// MinRetryAfter and MaxRetryAfter are the Retry-After values (seconds)
	// of the 409 and 503 answers.
	MinRetryAfter, MaxRetryAfter int
	// MaxAttempts is the most attempts one request took.
	MaxAttempts int
	// Final counts the requests by the status of their last answer.
	Final map[int]int
	// Failed are the request IDs of requests without a 2xx answer at the
	// end: their client gave up or the function failed.
	Failed []string
	// FirstConflict is the first 409 answer, as the client got it.
	FirstConflict *events.APIGatewayV2HTTPResponse
}

// Succeeded returns how many requests ended with a 2xx answer.
func (r HTTPResult) Succeeded() (n int) {
	for st, c := range r.Final {
		if st >= 200 && st < 300 {
			n += c
		}
	}
	return n
}

// SendHTTP sends every request at once to f (as many run as f has
// emulators), as clients of an HTTP API do. A client answered 409 or 503
// retries, up to attempts times in all, after a jittered wait that starts
// at 50 ms and doubles, but never longer than the answer's Retry-After:
// Retry-After is when the holder's lease can be taken over at the latest,
// and a holder usually releases long before. A function error (API
// Gateway's 502) is not retried.
func SendHTTP(ctx context.Context, f *Function, reqs []events.APIGatewayV2HTTPRequest, attempts int) (HTTPResult, error) {
	res := HTTPResult{Requests: len(reqs), Final: map[int]int{}}
	var (
		mu   sync.Mutex // protects res
		wg   sync.WaitGroup
		errs = make([]error, len(reqs))
	)
	for i, r := range reqs {
		wg.Go(func() {
			payload, err := json.Marshal(r)
			if err != nil {
				errs[i] = fmt.Errorf("demo: %w", err)
				return
			}
			backoff := 50 * time.Millisecond
			for attempt := 1; ; attempt++ {
				resp, err := f.Invoke(ctx, payload)
				if err != nil && !errors.Is(err, emulator.ErrNoResponse) {
					errs[i] = err
					return
				}
				status, retry := 502, 0
				var out events.APIGatewayV2HTTPResponse
				if err == nil && resp.Err == nil {
					if err := json.Unmarshal(resp.Payload, &out); err != nil {
						errs[i] = fmt.Errorf("demo: %s: response %s: %w", f.Name, resp.Payload, err)
						return
					}
					status = out.StatusCode
					retry, _ = strconv.Atoi(out.Headers["Retry-After"])
				}
				mu.Lock()
				res.Invocations++
				res.MaxAttempts = max(res.MaxAttempts, attempt)
				if status == 409 || status == 503 {
					if status == 409 {
						res.Conflicts++
						if res.FirstConflict == nil {
							res.FirstConflict = &out
						}
					} else {
						res.Unavailable++
					}
					if res.MinRetryAfter == 0 || retry < res.MinRetryAfter {
						res.MinRetryAfter = retry
					}
					res.MaxRetryAfter = max(res.MaxRetryAfter, retry)
				}
				done := (status != 409 && status != 503) || attempt == attempts
				if done {
					res.Final[status]++
					if status < 200 || status >= 300 {
						res.Failed = append(res.Failed, r.RequestContext.RequestID)
					}
				}
				mu.Unlock()
				if done {
					return
				}
				wait := min(backoff/2+rand.N(backoff/2+1), time.Duration(retry)*time.Second)
				backoff *= 2
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					errs[i] = ctx.Err()
					return
				}
			}
		})
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

// transfersLine reports an HTTP load with locking.
func transfersLine(r HTTPResult) string {
	s := fmt.Sprintf("%s at once (same account as account-events): %s; %s answered 409 Conflict",
		count(r.Requests, "request", "requests"), count(r.Invocations, "invocation", "invocations"), count(r.Conflicts, "attempt", "attempts"))
	if r.Conflicts+r.Unavailable > 0 {
		s += fmt.Sprintf(" with Retry-After %d–%d s (the holder's lease end + tolerance); clients retried after at most that, up to %s", r.MinRetryAfter, r.MaxRetryAfter, count(r.MaxAttempts, "attempt", "attempts"))
	}
	return s + fmt.Sprintf("; %d of %d succeeded", r.Succeeded(), r.Requests)
}
