package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/lock"
)

// HTTP describes one kind of HTTP trigger: the request and response
// types Lambda exchanges with it, how to read a request and how to write a
// response. RESTAPI, HTTPAPI, FunctionURL and ALB return the four kinds;
// WrapHTTP takes one, so a handler whose request or response belongs to
// another kind is a compile error. Its methods make the trigger's key
// functions (PathParameter, PathSegment, Header, Query, BodyPath). The
// zero value is not usable: WrapHTTP reports it as a configuration error.
type HTTP[Req, Resp any] struct {
	name    string
	view    func(Req) httpView
	respond func(req Req, status int, headers map[string]string, body string) Resp
}

// httpView is what the middleware reads from a request of any kind.
type httpView struct {
	requestID  string
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
			return httpView{requestID: r.RequestContext.RequestID, path: r.Path, headers: r.Headers, mvHeaders: r.MultiValueHeaders,
				query: r.QueryStringParameters, mvQuery: r.MultiValueQueryStringParameters, pathParams: r.PathParameters, hasParams: true,
				body: r.Body, base64: r.IsBase64Encoded}
		},
		respond: func(_ events.APIGatewayProxyRequest, status int, h map[string]string, body string) events.APIGatewayProxyResponse {
			return events.APIGatewayProxyResponse{StatusCode: status, Headers: h, Body: body}
		},
	}
}

// HTTPAPI is the API Gateway HTTP API trigger (payload format 2.0):
// events.APIGatewayV2HTTPRequest and events.APIGatewayV2HTTPResponse.
func HTTPAPI() HTTP[events.APIGatewayV2HTTPRequest, events.APIGatewayV2HTTPResponse] {
	return HTTP[events.APIGatewayV2HTTPRequest, events.APIGatewayV2HTTPResponse]{
		name: "API Gateway HTTP API",
		view: func(r events.APIGatewayV2HTTPRequest) httpView {
			return httpView{requestID: r.RequestContext.RequestID, path: r.RawPath, rawPath: true, headers: r.Headers,
				query: r.QueryStringParameters, pathParams: r.PathParameters, hasParams: true, body: r.Body, base64: r.IsBase64Encoded}
		},
		respond: func(_ events.APIGatewayV2HTTPRequest, status int, h map[string]string, body string) events.APIGatewayV2HTTPResponse {
			return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: h, Body: body}
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
			return httpView{requestID: r.RequestContext.RequestID, path: r.RawPath, rawPath: true, headers: r.Headers,
				query: r.QueryStringParameters, body: r.Body, base64: r.IsBase64Encoded}
		},
		respond: func(_ events.LambdaFunctionURLRequest, status int, h map[string]string, body string) events.LambdaFunctionURLResponse {
			return events.LambdaFunctionURLResponse{StatusCode: status, Headers: h, Body: body}
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
			return httpView{path: r.Path, rawPath: true, headers: r.Headers, mvHeaders: r.MultiValueHeaders,
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
//   - no key in the request: 400 Bad Request (unless RunUnkeyed is set,
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
// Wait waits within the invocation's deadline less the reserve, as
// elsewhere. API Gateway stops waiting for a Lambda integration after 29
// seconds (REST APIs, by default) or 30 (HTTP APIs) and answers 504
// whatever the function does afterwards: give such a function a timeout
// below that, so that a wait that runs out still reaches the client as a
// 409. Skip has no answer to give a client, so OnHeld(Skip) is a
// configuration error. Configuration errors (a nil client, key or h, the
// zero HTTP, no namespace) are returned by every call.
func WrapHTTP[Req, Resp any](c *lock.Client, trigger HTTP[Req, Resp], key KeyFunc[Req], h func(context.Context, Req) (Resp, error), opts ...Option) func(context.Context, Req) (Resp, error) {
	inv := newInvoker(c, key != nil, h != nil, opts)
	switch {
	case inv.err != nil:
	case trigger.view == nil:
		inv.err = fmt.Errorf("%w: the zero HTTP trigger: pass RESTAPI(), HTTPAPI(), FunctionURL() or ALB()", lock.ErrInvalidInput)
	case inv.o.held == Skip:
		inv.err = fmt.Errorf("%w: OnHeld(Skip) with WrapHTTP: a skipped request would get no answer; use Fail (409 Conflict) or Wait", lock.ErrInvalidInput)
	}
	return func(ctx context.Context, req Req) (resp Resp, err error) {
		if inv.err != nil {
			return resp, inv.err
		}
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
				ks, err = checkKeys(ks)
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
		outcome, err := in.run(ctx, ids, log, func(ctx context.Context) error {
			var herr error
			resp, herr = h(ctx, req)
			return herr
		})
		if outcome == ran {
			return resp, err
		}
		in.stats.failed()
		p := in.refusal(ks, err)
		log.Log(ctx, p.level, "lock not acquired: request refused", "lockIds", ids, "status", p.status, "error", err)
		return trigger.respond(req, p.status, p.headers(), p.body()), nil
	}
}

// checkKeys returns ks if it holds keys and none is empty.
func checkKeys(ks []string) ([]string, error) {
	if len(ks) == 0 {
		return nil, keyError("the key function", "no keys", nil)
	}
	for _, k := range ks {
		if k == "" {
			return nil, keyError("the key function", "empty key", nil)
		}
	}
	return ks, nil
}

// refusal is the problem that answers a request whose handler did not run
// because of err, a failed acquisition.
func (in *invocation) refusal(ks []string, err error) problem {
	var held *lock.HeldError
	if errors.As(err, &held) {
		secs := retryAfter(held.Holder.ExpiresAt.Add(in.skew))
		return problem{status: http.StatusConflict, typ: ProblemLockHeld, level: slog.LevelInfo, retryAfter: secs,
			detail: fmt.Sprintf("another request for %s is in progress; retry after %s", describeKeys(ks), count(secs, "second"))}
	}
	if errors.Is(err, ErrNoTime) {
		return problem{status: http.StatusServiceUnavailable, typ: ProblemNoTime, level: slog.LevelWarn, retryAfter: 1,
			detail: "the request could not be started in the time left; retry after 1 second"}
	}
	return problem{status: http.StatusServiceUnavailable, typ: ProblemLockUnavailable, level: slog.LevelError, retryAfter: 1,
		detail: "the lock for " + describeKeys(ks) + " could not be taken"}
}
