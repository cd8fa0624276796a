package middleware

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
)

// HTTP describes one kind of HTTP trigger: the request and response
// types Lambda exchanges with it, how to read a request and how to write a
// response. RESTAPI, HTTPAPI, FunctionURL and ALB return the four kinds;
// WrapHTTP takes one, so a handler whose request or response belongs to
// another kind is a compile error. Its methods make the trigger's key
// functions (PathParameter, PathSegment, Header, Query, Body). The
// zero value is not usable: WrapHTTP reports it as a configuration error.
type HTTP[Req, Resp any] struct {
	name    string
	view    func(Req) httpView
	respond func(req Req, status int, headers map[string]string, body string) Resp
	// status returns a response's status code.
	status func(Resp) int
	// setHeader sets a header of a response (to req) where the trigger
	// reads it.
	setHeader func(req Req, resp *Resp, name, value string)
}

// httpView is what the middleware reads from a request of any kind.
type httpView struct {
	requestID  string
	method     string
	path       string
	headers    map[string]string
	mvHeaders  map[string][]string
	query      map[string]string
	mvQuery    map[string][]string
	pathParams map[string]string
	hasParams  bool // the trigger has path parameters (API Gateway)
	queryRaw   bool // query values arrive URL-encoded (ALB)
	rawPath    bool // the path arrives percent-encoded
	body       string
	base64     bool
}

// RESTAPI is the API Gateway REST API trigger (Lambda proxy integration):
// events.APIGatewayProxyRequest and events.APIGatewayProxyResponse.
func RESTAPI() HTTP[events.APIGatewayProxyRequest, events.APIGatewayProxyResponse] {
	return HTTP[events.APIGatewayProxyRequest, events.APIGatewayProxyResponse]{
		name: "API Gateway REST API",
		view: func(r events.APIGatewayProxyRequest) httpView {
			return httpView{requestID: r.RequestContext.RequestID, method: r.HTTPMethod, path: r.Path, headers: r.Headers, mvHeaders: r.MultiValueHeaders,
				query: r.QueryStringParameters, mvQuery: r.MultiValueQueryStringParameters, pathParams: r.PathParameters, hasParams: true,
				body: r.Body, base64: r.IsBase64Encoded}
		},
		respond: func(_ events.APIGatewayProxyRequest, status int, h map[string]string, body string) events.APIGatewayProxyResponse {
			return events.APIGatewayProxyResponse{StatusCode: status, Headers: h, Body: body}
		},
		status: func(r events.APIGatewayProxyResponse) int { return r.StatusCode },
		setHeader: func(_ events.APIGatewayProxyRequest, r *events.APIGatewayProxyResponse, name, value string) {
			r.Headers = withHeader(r.Headers, name, value)
		},
	}
}

// HTTPAPI is the API Gateway HTTP API trigger (payload format 2.0):
// events.APIGatewayV2HTTPRequest and events.APIGatewayV2HTTPResponse.
func HTTPAPI() HTTP[events.APIGatewayV2HTTPRequest, events.APIGatewayV2HTTPResponse] {
	return HTTP[events.APIGatewayV2HTTPRequest, events.APIGatewayV2HTTPResponse]{
		name: "API Gateway HTTP API",
		view: func(r events.APIGatewayV2HTTPRequest) httpView {
			return httpView{requestID: r.RequestContext.RequestID, method: r.RequestContext.HTTP.Method, path: r.RawPath, rawPath: true, headers: r.Headers,
				query: r.QueryStringParameters, pathParams: r.PathParameters, hasParams: true, body: r.Body, base64: r.IsBase64Encoded}
		},
		respond: func(_ events.APIGatewayV2HTTPRequest, status int, h map[string]string, body string) events.APIGatewayV2HTTPResponse {
			return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: h, Body: body}
		},
		status: func(r events.APIGatewayV2HTTPResponse) int { return r.StatusCode },
		setHeader: func(_ events.APIGatewayV2HTTPRequest, r *events.APIGatewayV2HTTPResponse, name, value string) {
			r.Headers = withHeader(r.Headers, name, value)
		},
	}
}

// FunctionURL is the Lambda function URL trigger (BUFFERED invoke mode):
// events.LambdaFunctionURLRequest and events.LambdaFunctionURLResponse. A
// function URL has no path parameters: take keys from the path with
// PathSegment.
func FunctionURL() HTTP[events.LambdaFunctionURLRequest, events.LambdaFunctionURLResponse] {
	return HTTP[events.LambdaFunctionURLRequest, events.LambdaFunctionURLResponse]{
		name: "Lambda function URL",
		view: func(r events.LambdaFunctionURLRequest) httpView {
			return httpView{requestID: r.RequestContext.RequestID, method: r.RequestContext.HTTP.Method, path: r.RawPath, rawPath: true, headers: r.Headers,
				query: r.QueryStringParameters, body: r.Body, base64: r.IsBase64Encoded}
		},
		respond: func(_ events.LambdaFunctionURLRequest, status int, h map[string]string, body string) events.LambdaFunctionURLResponse {
			return events.LambdaFunctionURLResponse{StatusCode: status, Headers: h, Body: body}
		},
		status: func(r events.LambdaFunctionURLResponse) int { return r.StatusCode },
		setHeader: func(_ events.LambdaFunctionURLRequest, r *events.LambdaFunctionURLResponse, name, value string) {
			r.Headers = withHeader(r.Headers, name, value)
		},
	}
}

// ALB is the Application Load Balancer trigger (a Lambda target group):
// events.ALBTargetGroupRequest and events.ALBTargetGroupResponse. With
// multi-value headers on for the target group (the request carries
// MultiValueHeaders), the middleware's responses carry their headers as
// MultiValueHeaders, which is the only field the load balancer then
// reads. The load balancer passes query strings undecoded: Query decodes
// them. There are no path parameters: take keys from the path with
// PathSegment.
func ALB() HTTP[events.ALBTargetGroupRequest, events.ALBTargetGroupResponse] {
	return HTTP[events.ALBTargetGroupRequest, events.ALBTargetGroupResponse]{
		name: "Application Load Balancer",
		view: func(r events.ALBTargetGroupRequest) httpView {
			return httpView{method: r.HTTPMethod, path: r.Path, rawPath: true, headers: r.Headers, mvHeaders: r.MultiValueHeaders,
				query: r.QueryStringParameters, mvQuery: r.MultiValueQueryStringParameters, queryRaw: true,
				body: r.Body, base64: r.IsBase64Encoded}
		},
		respond: func(req events.ALBTargetGroupRequest, status int, h map[string]string, body string) events.ALBTargetGroupResponse {
			resp := events.ALBTargetGroupResponse{StatusCode: status, StatusDescription: fmt.Sprintf("%d %s", status, http.StatusText(status)), Body: body}
			if req.MultiValueHeaders != nil {
				resp.MultiValueHeaders = make(map[string][]string, len(h))
				for k, v := range h {
					resp.MultiValueHeaders[k] = []string{v}
				}
			} else {
				resp.Headers = h
			}
			return resp
		},
		status: func(r events.ALBTargetGroupResponse) int { return r.StatusCode },
		setHeader: func(req events.ALBTargetGroupRequest, r *events.ALBTargetGroupResponse, name, value string) {
			if req.MultiValueHeaders != nil {
				if r.MultiValueHeaders == nil {
					r.MultiValueHeaders = map[string][]string{}
				}
				r.MultiValueHeaders[name] = []string{value}
				return
			}
			r.Headers = withHeader(r.Headers, name, value)
		},
	}
}

// WrapHTTP returns a handler of h's own type that runs h under the locks
// key derives from each request, and answers for h when it does not run:
//
//   - the lock is held (policy Fail, or Wait once the wait is over): 409
//     Conflict, with Retry-After in whole seconds until the holder's lease
//     ends plus the lock client's clock-skew tolerance (at least 1), when
//     a new holder can take the lock over even if the holder never
//     releases it; it is an upper bound, as a holder usually releases
//     sooner;
//   - every permit of the key is held (WithPermits n > 1): 429 Too Many
//     Requests, with Retry-After until the first permit's lease ends, as
//     above: the request exceeds a concurrency limit, which clients retry
//     with backoff, rather than conflicting with another's state;
//   - no key in the request: 400 Bad Request (unless WithRunUnkeyed is given,
//     which runs h without a lock);
//   - DynamoDB could not be asked (network, throttling, permissions): 503
//     Service Unavailable, Retry-After: 1;
//   - too little time left to take the lock (ErrNoTime): 503, Retry-After: 1.
//
// These answers are RFC 9457 problem details (Content-Type
// application/problem+json) with type, title, status and detail. The
// detail names the keys the request gave, never the lock's namespace, its
// holder's owner, host or request ID, or an SDK error: those go to the log.
// When h runs, its response passes through untouched and its error is
// returned as it is (API Gateway then answers 502, as it would without the
// middleware), after the locks are released; a failed release is logged.
//
// With WithIdempotency (Req's key function, typically
// trigger.Header("Idempotency-Key")), requests follow the IETF draft "The
// Idempotency-Key HTTP Header Field" (draft-ietf-httpapi-idempotency-key-header):
//
//   - a request whose key completed before does not run h: it gets the
//     response stored then (status, headers, cookies, body, as h returned
//     it) with the header Idempotent-Replayed: true (replayedHeader);
//   - a request whose key is in progress: 409 Conflict
//     (problemRequestInProgress), Retry-After as for a held lock; with
//     Wait, it waits for the first and then gets its stored response;
//   - the key used before for another request: 422
//     (problemIdempotencyKeyReused). The fingerprint compared is the
//     request's method, path, query and body, not its headers (a retry may
//     carry a fresh Authorization);
//   - no key: 400 (problemNoIdempotencyKey).
//
// Every response h returns with a status below 500 is stored, 4xx
// included: it is the outcome of the request, which its retries get too.
// A 5xx response reports a failure of the server, which a retry may not
// meet: it reaches the client but is not stored, and the claim is
// released so that the retry runs h again, as after an error h returns.
// (A handler that completed the claim itself with lease.Complete has
// committed its effects: a 5xx it then returns is not stored either, and
// its duplicates get an error, not a response.) A response whose JSON is larger
// than lock.MaxResultBytes cannot be stored: the invocation fails with an
// error matching ErrResultTooLarge (API Gateway: 502) and the claim is
// released; return a large body by reference. A stored response answers
// for the lock client's Config.CompletionExpiry (24 hours).
//
// Wait waits within the invocation's deadline less the reserve, as
// elsewhere. API Gateway stops waiting for a Lambda integration after 29
// seconds (REST APIs, by default) or 30 (HTTP APIs) and answers 504
// whatever the function does afterwards: give such a function a timeout
// below that, so that a wait that runs out still reaches the client as a
// 409. Skip has no answer to give a client, so WithOnHeld(Skip) is
// refused. Configuration errors (a nil client or h, no key, the zero HTTP,
// no namespace, a key of another type than Req for WithIdempotency, an
// option WrapHTTP cannot apply) are returned when the handler is built,
// and it is nil.
func WrapHTTP[Req, Resp any](c *lock.Client, trigger HTTP[Req, Resp], key Key[Req], h func(context.Context, Req) (Resp, error), opts ...Option) (func(context.Context, Req) (Resp, error), error) {
	inv := newInvoker(c, key.given(), h != nil, opts)
	if inv.err == nil && trigger.view == nil {
		inv.err = fmt.Errorf("%w: the zero HTTP trigger: pass RESTAPI(), HTTPAPI(), FunctionURL() or ALB()", lock.ErrInvalidInput)
	}
	inv.refuseInapplicable(kindHTTP, "WrapHTTP")
	if err := built[Req](inv, "WrapHTTP", key.err); err != nil {
		return nil, err
	}
	return func(ctx context.Context, req Req) (resp Resp, err error) {
		in := inv.begin(ctx)
		defer in.end()
		v := trigger.view(req)
		log := in.log
		if v.requestID != "" {
			log = log.With("httpRequestId", v.requestID)
		}
		var ids, ks []string
		if !inv.o.disabled {
			if ks, err = callKey(ctx, key, req, log); err == nil {
				ks, err = checkKeys(key.describe(), ks)
			}
			if err != nil {
				if !inv.o.runUnkeyed {
					in.stats.failed()
					log.Warn("no lock key: request refused", "error", err)
					p := noKeyProblem(err)
					return trigger.respond(req, p.status, p.headers(), p.body()), nil
				}
				log.Warn("no lock key: running without a lock", "error", err)
				ks = nil
			}
			ids = compactIDs(lockIDs(inv.o.namespace, ks))
		}
		cl, err := claimFor(ctx, inv, req, log)
		if err != nil {
			in.stats.failed()
			log.Warn("no idempotency key: request refused", "error", err)
			p := noIdempotencyKeyProblem(err)
			return trigger.respond(req, p.status, p.headers(), p.body()), nil
		}
		if cl != nil {
			cl.payload = v.fingerprint()
			cl.result = func() ([]byte, error) { return json.Marshal(resp) }
		}
		outcome, done, err := in.runEvent(ctx, ids, cl, log, func(ctx context.Context) error {
			var herr error
			resp, herr = h(ctx, req)
			if herr == nil && cl != nil && trigger.status(resp) >= 500 {
				return errServerError
			}
			return herr
		})
		switch {
		case outcome == ran && errors.Is(err, errServerError):
			log.Info("server error response not stored: the claim is released, so a retry runs the handler again", "status", trigger.status(resp))
			return resp, nil
		case outcome == ran:
			return resp, err
		case outcome == answered:
			if resp, err = replay(trigger, req, done); err != nil {
				in.stats.failed()
				log.Error("duplicate of a completed request not answered", "error", err)
			}
			return resp, err
		}
		in.stats.failed()
		p := in.refusal(ks, cl, err)
		log.Log(ctx, p.level, p.msg, "lockIds", ids, "status", p.status, "error", err)
		return trigger.respond(req, p.status, p.headers(), p.body()), nil
	}, nil
}

// errServerError is what an idempotent request's run returns when h
// answered with a 5xx response: the claim is released, not completed, and
// the response goes to the client.
var errServerError = errors.New("middleware: the handler answered with a server error")

// replay answers a duplicate of a completed request with the response
// stored when it completed, marked with replayedHeader.
func replay[Req, Resp any](t HTTP[Req, Resp], req Req, done *completion) (Resp, error) {
	var resp Resp
	if err := decodeResult(done, &resp); err != nil {
		return resp, err
	}
	t.setHeader(req, &resp, replayedHeader, "true")
	return resp, nil
}

// fingerprint returns what tells one request from another under one
// idempotency key (the draft's idempotency fingerprint): the method, the
// path, the query (parameters sorted; an ALB's decoded) and the body
// (decoded from base64 when so marked). A retry sends them all again
// alike. Headers are left out: a retry may carry a fresh token or date.
func (v httpView) fingerprint() []byte {
	q := url.Values{}
	for k, vals := range v.mvQuery {
		for _, x := range vals {
			q.Add(k, v.queryValue(x))
		}
	}
	if len(v.mvQuery) == 0 {
		for k, x := range v.query {
			q.Set(k, v.queryValue(x))
		}
	}
	body := []byte(v.body)
	if v.base64 {
		if d, err := base64.StdEncoding.DecodeString(v.body); err == nil {
			body = d
		}
	}
	var b bytes.Buffer
	for _, part := range []string{strings.ToUpper(v.method), v.path, q.Encode()} {
		b.WriteString(part)
		b.WriteByte(0)
	}
	b.Write(body)
	return b.Bytes()
}

// queryValue returns a query value as sent, decoded when the trigger
// passes it undecoded (and it decodes).
func (v httpView) queryValue(x string) string {
	if v.queryRaw {
		if d, err := url.QueryUnescape(x); err == nil {
			return d
		}
	}
	return x
}

// withHeader returns h with name set to value, making h when it is nil.
func withHeader(h map[string]string, name, value string) map[string]string {
	if h == nil {
		h = make(map[string]string, 1)
	}
	h[name] = value
	return h
}

// refusal is the problem that answers a request whose handler did not run
// because of err, a failed acquisition of its locks and, with cl, its
// idempotency claim.
func (in *invocation) refusal(ks []string, cl *claimSpec, err error) problem {
	var held *lock.HeldError
	if errors.As(err, &held) {
		secs := retryAfter(held.Holder.ExpiresAt.Add(in.skew))
		if cl != nil && held.LockID == cl.id {
			return problem{status: http.StatusConflict, typ: problemRequestInProgress, level: slog.LevelInfo, retryAfter: secs,
				msg:    "duplicate in progress: request refused",
				detail: fmt.Sprintf("a request with the same idempotency key is in progress; retry after %s", count(secs, "second"))}
		}
		if held.Permits > 1 {
			return problem{status: http.StatusTooManyRequests, typ: problemLimitReached, level: slog.LevelInfo, retryAfter: secs,
				msg: "all permits held: request refused",
				detail: fmt.Sprintf("%d requests for %s are in progress, the most allowed at once; retry after %s",
					held.Permits, describeKeys(ks), count(secs, "second"))}
		}
		return problem{status: http.StatusConflict, typ: problemLockHeld, level: slog.LevelInfo, retryAfter: secs,
			msg:    "lock not acquired: request refused",
			detail: fmt.Sprintf("another request for %s is in progress; retry after %s", describeKeys(ks), count(secs, "second"))}
	}
	if errors.Is(err, lock.ErrPayloadMismatch) {
		return problem{status: http.StatusUnprocessableEntity, typ: problemIdempotencyKeyReused, level: slog.LevelWarn,
			msg:    "idempotency key reused for another request: request refused",
			detail: "the idempotency key was used before for a different request; send a new key with a new request"}
	}
	if errors.Is(err, ErrNoTime) {
		return problem{status: http.StatusServiceUnavailable, typ: problemNoTime, level: slog.LevelWarn, retryAfter: 1,
			msg:    "lock not acquired: request refused",
			detail: "the request could not be started in the time left; retry after 1 second"}
	}
	return problem{status: http.StatusServiceUnavailable, typ: problemLockUnavailable, level: slog.LevelError, retryAfter: 1,
		msg:    "lock not acquired: request refused",
		detail: "the lock for " + describeKeys(ks) + " could not be taken"}
}
