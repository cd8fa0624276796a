package middleware

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The type URIs of the problem details (RFC 9457) WrapHTTP answers with,
// so that a client can tell a held lock from other conflicts. They name
// sections of the project's README, which say what each means.
const (
	// problemLockHeld: 409, another request holds the lock of the keys
	// this one names; retry after Retry-After.
	problemLockHeld = "https://github.com/dynalock/dynalock#problem-lock-held"
	// problemLimitReached: 429, as many requests as the key admits at once
	// (WithPermits) hold it; retry after Retry-After.
	problemLimitReached = "https://github.com/dynalock/dynalock#problem-limit-reached"
	// problemNoKey: 400, the request does not name what it changes (the
	// key function found no key in it).
	problemNoKey = "https://github.com/dynalock/dynalock#problem-no-key"
	// problemLockUnavailable: 503, the lock table could not be asked
	// (network, throttling, permissions); retry after Retry-After.
	problemLockUnavailable = "https://github.com/dynalock/dynalock#problem-lock-unavailable"
	// problemNoTime: 503, the invocation had too little time left to take
	// the lock (ErrNoTime); retry after Retry-After.
	problemNoTime = "https://github.com/dynalock/dynalock#problem-no-time"
	// problemRequestInProgress: 409, a request with the same idempotency
	// key is still being handled (WithIdempotency); retry after
	// Retry-After, to get its response.
	problemRequestInProgress = "https://github.com/dynalock/dynalock#problem-request-in-progress"
	// problemIdempotencyKeyReused: 422, the idempotency key was used
	// before for a request with another method, path, query or body
	// (WithIdempotency); a new request needs a new key.
	problemIdempotencyKeyReused = "https://github.com/dynalock/dynalock#problem-idempotency-key-reused"
	// problemNoIdempotencyKey: 400, the request carries no idempotency
	// key where one is required (WithIdempotency).
	problemNoIdempotencyKey = "https://github.com/dynalock/dynalock#problem-no-idempotency-key"
)

// replayedHeader is the response header, set to "true", that marks a
// response WrapHTTP replayed from the store for a request whose
// idempotency key completed before (WithIdempotency), so that a client can
// tell it from a fresh one. It is the name Stripe's API gives it; the IETF
// draft names none.
const replayedHeader = "Idempotent-Replayed"

// problemContentType is the media type of WrapHTTP's own answers.
const problemContentType = "application/problem+json"

// maxDetailKeyBytes is the most of one key a problem's detail repeats.
const maxDetailKeyBytes = 128

// problem is one answer of WrapHTTP's own.
type problem struct {
	status     int
	typ        string
	detail     string
	retryAfter int // seconds; 0 sends no Retry-After
	level      slog.Level
	msg        string // the log message of the refusal
}

// headers returns the problem's response headers.
func (p problem) headers() map[string]string {
	h := map[string]string{"Content-Type": problemContentType, "Cache-Control": "no-store"}
	if p.retryAfter > 0 {
		h["Retry-After"] = strconv.Itoa(p.retryAfter)
	}
	return h
}

// body returns the problem's JSON: type, title, status and detail.
func (p problem) body() string {
	b, err := json.Marshal(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{p.typ, http.StatusText(p.status), p.status, p.detail})
	if err != nil { // cannot happen: strings and an int
		return `{"status":` + strconv.Itoa(p.status) + `}`
	}
	return string(b)
}

// retryAfter returns the whole seconds from now until t, rounded up, and
// at least 1.
func retryAfter(t time.Time) int {
	s := math.Ceil(time.Until(t).Seconds())
	if s < 1 || math.IsNaN(s) {
		return 1
	}
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(s)
}

// noKeyProblem is the 400 answer to a request without a key. It says what
// was looked for and why it did not do, as far as that is about the
// request: the reason of a *keyErr from the middleware's own key
// functions, nothing from another function's error.
func noKeyProblem(err error) problem {
	detail := "the request does not say what it changes"
	var ke *keyErr
	if errors.As(err, &ke) && !ke.foreign && ke.Expr != "the key function" {
		detail += ": " + ke.Expr
		if ke.Reason != "" {
			detail += ": " + ke.Reason
		}
	}
	return problem{status: http.StatusBadRequest, typ: problemNoKey, detail: detail, level: slog.LevelWarn}
}

// noIdempotencyKeyProblem is the 400 answer to a request without an
// idempotency key, saying, as noKeyProblem does, what was looked for as
// far as the middleware's own key functions know.
func noIdempotencyKeyProblem(err error) problem {
	detail := "the request has no idempotency key"
	var ke *keyErr
	if errors.As(err, &ke) && !ke.foreign && ke.Expr != "the key function" {
		detail += ": " + ke.Expr
		if r := strings.TrimPrefix(ke.Reason, "idempotency key: "); r != "" {
			detail += ": " + r
		}
	}
	return problem{status: http.StatusBadRequest, typ: problemNoIdempotencyKey, detail: detail, level: slog.LevelWarn}
}

// describeKeys quotes the keys a request gave, each cut to
// maxDetailKeyBytes.
func describeKeys(ks []string) string {
	if len(ks) == 0 {
		return "this resource"
	}
	q := make([]string, len(ks))
	for i, k := range ks {
		k = strings.ToValidUTF8(k, "\uFFFD")
		if len(k) > maxDetailKeyBytes {
			k = k[:maxDetailKeyBytes]
			for !utf8.ValidString(k) {
				k = k[:len(k)-1]
			}
			k += "…"
		}
		q[i] = strconv.Quote(k)
	}
	return strings.Join(q, ", ")
}

// count returns "1 second", "3 seconds".
func count(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
