package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/internal/httpfault"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// The problem types and media type of WrapHTTP's own answers, and the
// header of a replayed response: the strings clients see and match, so the
// tests spell them out.
const (
	problemContentType          = "application/problem+json"
	problemLockHeld             = "https://github.com/dynalock/dynalock#problem-lock-held"
	problemNoKey                = "https://github.com/dynalock/dynalock#problem-no-key"
	problemLockUnavailable      = "https://github.com/dynalock/dynalock#problem-lock-unavailable"
	problemNoTime               = "https://github.com/dynalock/dynalock#problem-no-time"
	problemRequestInProgress    = "https://github.com/dynalock/dynalock#problem-request-in-progress"
	problemIdempotencyKeyReused = "https://github.com/dynalock/dynalock#problem-idempotency-key-reused"
	problemNoIdempotencyKey     = "https://github.com/dynalock/dynalock#problem-no-idempotency-key"
	replayedHeader              = "Idempotent-Replayed"
)

// problemBody is an RFC 9457 problem as WrapHTTP writes it; any other
// member fails the decode.
type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func decodeProblem(t *testing.T, resp events.APIGatewayV2HTTPResponse) problemBody {
	t.Helper()
	if ct := resp.Headers["Content-Type"]; ct != problemContentType {
		t.Errorf("Content-Type %q, want %q", ct, problemContentType)
	}
	var p problemBody
	d := json.NewDecoder(strings.NewReader(resp.Body))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		t.Fatalf("body %s: %v", resp.Body, err)
	}
	if p.Status != resp.StatusCode || p.Title != http.StatusText(resp.StatusCode) || p.Type == "" || p.Detail == "" {
		t.Errorf("problem %+v does not match status %d", p, resp.StatusCode)
	}
	return p
}

// transferRequest is the HTTP API request of a transfer on account, from
// events/http-api-transfer.json.
func transferRequest(t testing.TB, account string) events.APIGatewayV2HTTPRequest {
	var req events.APIGatewayV2HTTPRequest
	loadEvent(t, "http-api-transfer.json", &req)
	req.PathParameters = map[string]string{"id": account}
	req.RawPath = "/accounts/" + account + "/transfers"
	return req
}

// A request's outcomes through WrapHTTP, keyed by the path parameter.
func TestWrapHTTPOutcomes(t *testing.T) {
	created := events.APIGatewayV2HTTPResponse{
		StatusCode: 201, Headers: map[string]string{"Content-Type": "text/plain", "Retry-After": "kept"},
		MultiValueHeaders: map[string][]string{"Set-Cookie": {"a=1", "b=2"}}, Body: "made", Cookies: []string{"c=3"},
	}
	tests := []struct {
		name     string
		holdFor  time.Duration // another process holds account 42 this long
		throttle bool          // every DynamoDB request is throttled
		timeout  time.Duration // the invocation's; 0 gives none
		opts     []middleware.Option
		account  string
		herr     error
		// want
		status     int
		problem    string // problem type; "" for the handler's own answer
		retryAfter string // "" when not checked; "lease" for the holder's lease end
		ran        bool
	}{
		{name: "free: the handler's response passes through", account: "42", status: 201, ran: true},
		{name: "held: 409 with the lease's end", holdFor: 8 * time.Second, account: "42", status: 409, problem: problemLockHeld, retryAfter: "lease"},
		{name: "held after a wait: 409", holdFor: 8 * time.Second, timeout: 1500 * time.Millisecond, opts: []middleware.Option{middleware.WithOnHeld(middleware.Wait)},
			account: "42", status: 409, problem: problemLockHeld, retryAfter: "lease"},
		{name: "a short lease: Retry-After is at least 1", holdFor: 300 * time.Millisecond, account: "42", status: 409, problem: problemLockHeld, retryAfter: "1"},
		{name: "no key: 400", account: "", status: 400, problem: problemNoKey},
		{name: "no key with RunUnkeyed: runs", account: "", opts: []middleware.Option{middleware.WithRunUnkeyed()}, status: 201, ran: true},
		{name: "DynamoDB throttled: 503", throttle: true, account: "42", status: 503, problem: problemLockUnavailable, retryAfter: "1"},
		{name: "no time: 503", timeout: 400 * time.Millisecond, account: "42", status: 503, problem: problemNoTime, retryAfter: "1"},
		{name: "disabled: runs without a lock", holdFor: 8 * time.Second, account: "42", opts: []middleware.Option{middleware.WithDisabled(true)}, status: 201, ran: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var holder *lock.Lease
			if tc.holdFor > 0 {
				holder = e.hold("42", tc.holdFor)
			}
			if tc.throttle {
				e.net.Rule = func(httpfault.Request) httpfault.Action { return httpfault.Action{Kind: httpfault.Throttle} }
			}
			var ran atomic.Bool
			api := middleware.HTTPAPI()
			h := must(middleware.WrapHTTP(e.c, api, api.PathParameter("id"),
				func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
					ran.Store(true)
					if l, ok := lock.FromContext(ctx); ok && l.LockID() != "test/42" {
						t.Errorf("lease of %q, want test/42", l.LockID())
					}
					return created, nil
				}, e.opts(tc.opts...)...))(t)
			ctx, _ := lambdaCtx(t, "req-outcomes", tc.timeout)
			before := time.Now()
			resp, err := h(ctx, transferRequest(t, tc.account))
			after := time.Now()
			if err != nil {
				t.Fatalf("err = %v, want a response", err)
			}
			if resp.StatusCode != tc.status || ran.Load() != tc.ran {
				t.Fatalf("status %d, handler ran %v; want %d, %v (body %s)", resp.StatusCode, ran.Load(), tc.status, tc.ran, resp.Body)
			}
			if tc.problem == "" {
				if !equalJSON(t, resp, created) {
					t.Errorf("response %+v, want the handler's %+v untouched", resp, created)
				}
				return
			}
			p := decodeProblem(t, resp)
			if p.Type != tc.problem {
				t.Errorf("problem type %q, want %q", p.Type, tc.problem)
			}
			if resp.Headers["Cache-Control"] != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", resp.Headers["Cache-Control"])
			}
			switch tc.retryAfter {
			case "":
				if _, ok := resp.Headers["Retry-After"]; ok && tc.status == 400 {
					t.Errorf("Retry-After %q on a 400", resp.Headers["Retry-After"])
				}
			case "lease":
				end := e.record("42").ExpiresAt.Add(testSkew)
				lo, hi := wholeSeconds(end.Sub(after)), wholeSeconds(end.Sub(before))
				got, err := strconv.Atoi(resp.Headers["Retry-After"])
				if err != nil || got < lo || got > hi {
					t.Errorf("Retry-After %q, want %d to %d (the holder's lease end + the tolerance)", resp.Headers["Retry-After"], lo, hi)
				}
			default:
				if got := resp.Headers["Retry-After"]; got != tc.retryAfter {
					t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
				}
			}
			if holder != nil {
				for _, secret := range []string{holder.LeaseID(), "other-process", "test/", strconv.FormatInt(holder.FencingToken(), 10)} {
					if strings.Contains(resp.Body, secret) {
						t.Errorf("body %s tells %q", resp.Body, secret)
					}
				}
			}
			if tc.status == 409 && !strings.Contains(p.Detail, `"42"`) {
				t.Errorf("detail %q does not name the request's key", p.Detail)
			}
		})
	}
}

// wholeSeconds is d in whole seconds, rounded up, at least 1.
func wholeSeconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }

// equalJSON reports whether a and b encode alike.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

// The handler's error is returned as an error, after the release.
func TestWrapHTTPHandlerError(t *testing.T) {
	e := newEnv(t)
	boom := errors.New("boom")
	api := middleware.HTTPAPI()
	h := must(middleware.WrapHTTP(e.c, api, api.PathParameter("id"),
		func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{StatusCode: 500}, boom
		}, e.opts()...))(t)
	resp, err := h(context.Background(), transferRequest(t, "42"))
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the handler's", err)
	}
	if resp.StatusCode != 500 {
		t.Errorf("response %+v, want the handler's", resp)
	}
	e.requireFree("42")
}

// Configuration errors come back from the constructor, with no handler,
// before any request.
func TestWrapHTTPConfiguration(t *testing.T) {
	e := newEnv(t)
	api := middleware.HTTPAPI()
	ok := func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	}
	type built struct {
		h   func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)
		err error
	}
	build := func(h func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error), err error) built {
		return built{h, err}
	}
	tests := []struct {
		name string
		b    built
		want string
	}{
		{"skip", build(middleware.WrapHTTP(e.c, api, api.PathParameter("id"), ok, e.opts(middleware.WithOnHeld(middleware.Skip))...)), "WithOnHeld(Skip)"},
		{"zero trigger", build(middleware.WrapHTTP(e.c, middleware.HTTP[events.APIGatewayV2HTTPRequest, events.APIGatewayV2HTTPResponse]{}, api.PathParameter("id"), ok, e.opts()...)), "zero HTTP trigger"},
		{"no namespace", build(middleware.WrapHTTP(e.c, api, api.PathParameter("id"), ok)), "no lock namespace"},
		{"zero key", build(middleware.WrapHTTP(e.c, api, middleware.Key[events.APIGatewayV2HTTPRequest]{}, ok, e.opts()...)), "no key"},
		{"nil handler", build(middleware.WrapHTTP[events.APIGatewayV2HTTPRequest, events.APIGatewayV2HTTPResponse](e.c, api, api.PathParameter("id"), nil, e.opts()...)), "nil handler"},
		{"bad body expression", build(middleware.WrapHTTP(e.c, api, api.Body("a |||"), ok, e.opts()...)), "invalid JMESPath expression"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.b.h != nil || !errors.Is(tc.b.err, lock.ErrInvalidInput) || !strings.Contains(tc.b.err.Error(), tc.want) {
				t.Errorf("handler %v, err = %v; want none and lock.ErrInvalidInput mentioning %q", tc.b.h != nil, tc.b.err, tc.want)
			}
		})
	}
	if n := e.net.Total(); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

// Each kind of trigger: its sample request's key, its 409 in its own
// response type, and its handler's response untouched.
func TestWrapHTTPKinds(t *testing.T) {
	t.Run("REST API", func(t *testing.T) {
		api := middleware.RESTAPI()
		var req events.APIGatewayProxyRequest
		loadEvent(t, "rest-api-transfer.json", &req)
		checkKind(t, api, req, api.PathParameter("id"), "42",
			func(r events.APIGatewayProxyResponse) (int, map[string]string, string) {
				return r.StatusCode, r.Headers, r.Body
			},
			events.APIGatewayProxyResponse{StatusCode: 201, Body: "rest"})
	})
	t.Run("HTTP API", func(t *testing.T) {
		api := middleware.HTTPAPI()
		var req events.APIGatewayV2HTTPRequest
		loadEvent(t, "http-api-transfer.json", &req)
		checkKind(t, api, req, api.Body("transferId"), "tr-1001",
			func(r events.APIGatewayV2HTTPResponse) (int, map[string]string, string) {
				return r.StatusCode, r.Headers, r.Body
			},
			events.APIGatewayV2HTTPResponse{StatusCode: 201, Body: "http", Cookies: []string{"a=1"}})
	})
	t.Run("function URL, base64 body", func(t *testing.T) {
		api := middleware.FunctionURL()
		var req events.LambdaFunctionURLRequest
		loadEvent(t, "function-url-transfer.json", &req)
		checkKind(t, api, req, api.Body("transferId"), "tr-1002",
			func(r events.LambdaFunctionURLResponse) (int, map[string]string, string) {
				return r.StatusCode, r.Headers, r.Body
			},
			events.LambdaFunctionURLResponse{StatusCode: 201, Body: "url"})
	})
	t.Run("ALB", func(t *testing.T) {
		api := middleware.ALB()
		var req events.ALBTargetGroupRequest
		loadEvent(t, "alb-transfer.json", &req)
		checkKind(t, api, req, api.PathSegment(1), "42",
			func(r events.ALBTargetGroupResponse) (int, map[string]string, string) {
				if want := strconv.Itoa(r.StatusCode) + " " + http.StatusText(r.StatusCode); r.StatusCode != 201 && r.StatusDescription != want {
					t.Errorf("StatusDescription %q, want %q", r.StatusDescription, want)
				}
				return r.StatusCode, r.Headers, r.Body
			},
			events.ALBTargetGroupResponse{StatusCode: 201, StatusDescription: "201 Created", Body: "alb"})
	})
	t.Run("ALB, multi-value headers", func(t *testing.T) {
		api := middleware.ALB()
		var req events.ALBTargetGroupRequest
		loadEvent(t, "alb-transfer.json", &req)
		req.MultiValueHeaders = map[string][]string{}
		for k, v := range req.Headers {
			req.MultiValueHeaders[k] = []string{v}
		}
		req.Headers = nil
		checkKind(t, api, req, api.Header("Idempotency-Key"), "tr-1004",
			func(r events.ALBTargetGroupResponse) (int, map[string]string, string) {
				if r.StatusCode != 201 && r.Headers != nil {
					t.Errorf("Headers %v with multi-value headers on: the load balancer ignores them", r.Headers)
				}
				h := map[string]string{}
				for k, v := range r.MultiValueHeaders {
					h[k] = strings.Join(v, ",")
				}
				return r.StatusCode, h, r.Body
			},
			events.ALBTargetGroupResponse{StatusCode: 201, Body: "alb-mv"})
	})
}

// checkKind serves req through WrapHTTP keyed by key, which must find
// wantKey: once with the lock free (the handler's response comes back as
// it is) and once with it held (a 409 problem in the kind's response).
func checkKind[Req, Resp any](t *testing.T, api middleware.HTTP[Req, Resp], req Req, key middleware.Key[Req], wantKey string,
	read func(Resp) (int, map[string]string, string), own Resp) {
	t.Helper()
	e := newEnv(t)
	ks, err := middleware.EvalKey(context.Background(), key, req)
	if err != nil || !slices.Equal(ks, []string{wantKey}) {
		t.Fatalf("key = %q, %v; want %q", ks, err, wantKey)
	}
	h := must(middleware.WrapHTTP(e.c, api, key, func(ctx context.Context, _ Req) (Resp, error) { return own, nil }, e.opts()...))(t)
	resp, err := h(context.Background(), req)
	if err != nil || !equalJSON(t, resp, own) {
		t.Errorf("free: %+v, %v; want the handler's %+v", resp, err, own)
	}
	e.hold(wantKey, 5*time.Second)
	resp, err = h(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	status, headers, body := read(resp)
	if status != 409 || headers["Content-Type"] != problemContentType || headers["Retry-After"] == "" {
		t.Errorf("held: status %d, headers %v; want 409 problem with Retry-After", status, headers)
	}
	p := decodeProblem(t, events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: headers, Body: body})
	if p.Type != problemLockHeld || !strings.Contains(p.Detail, strconv.Quote(wantKey)) {
		t.Errorf("held: problem %+v", p)
	}
}

// The key functions over requests of every kind.
func TestHTTPKeys(t *testing.T) {
	rest := middleware.RESTAPI()
	v2 := middleware.HTTPAPI()
	url := middleware.FunctionURL()
	alb := middleware.ALB()
	restReq := func(mod func(*events.APIGatewayProxyRequest)) events.APIGatewayProxyRequest {
		var r events.APIGatewayProxyRequest
		loadEvent(t, "rest-api-transfer.json", &r)
		mod(&r)
		return r
	}
	var v2Req events.APIGatewayV2HTTPRequest
	loadEvent(t, "http-api-transfer.json", &v2Req)
	var urlReq events.LambdaFunctionURLRequest
	loadEvent(t, "function-url-transfer.json", &urlReq)
	var albReq events.ALBTargetGroupRequest
	loadEvent(t, "alb-transfer.json", &albReq)
	tests := []struct {
		name    string
		keys    func() ([]string, error)
		want    string
		wantErr string // substring of the KeyError; "" for none
	}{
		{"REST path parameter", func() ([]string, error) { return middleware.EvalKey(ctx0, rest.PathParameter("id"), restReq(noop)) }, "42", ""},
		{"REST header, other case", func() ([]string, error) {
			return middleware.EvalKey(ctx0, rest.Header("IDEMPOTENCY-KEY"), restReq(noop))
		}, "tr-1003", ""},
		{"REST header only multi-value", func() ([]string, error) {
			return middleware.EvalKey(ctx0, rest.Header("idempotency-key"), restReq(func(r *events.APIGatewayProxyRequest) { r.Headers = nil }))
		}, "tr-1003", ""},
		{"REST query, multi-value", func() ([]string, error) {
			return middleware.EvalKey(ctx0, rest.Query("to"), restReq(func(r *events.APIGatewayProxyRequest) {
				r.MultiValueQueryStringParameters = map[string][]string{"to": {"7", "8"}}
			}))
		}, "7", ""},
		{"REST body path", func() ([]string, error) { return middleware.EvalKey(ctx0, rest.Body("transferId"), restReq(noop)) }, "tr-1003", ""},
		{"REST missing header", func() ([]string, error) { return middleware.EvalKey(ctx0, rest.Header("X-Nope"), restReq(noop)) }, "", `header "X-Nope": missing`},
		{"REST body not JSON", func() ([]string, error) {
			return middleware.EvalKey(ctx0, rest.Body("transferId"), restReq(func(r *events.APIGatewayProxyRequest) { r.Body = "amount=1" }))
		}, "", "body is not JSON"},
		{"REST bad base64", func() ([]string, error) {
			return middleware.EvalKey(ctx0, rest.Body("transferId"), restReq(func(r *events.APIGatewayProxyRequest) { r.IsBase64Encoded = true }))
		}, "", "not valid base64"},
		{"HTTP API path segment, decoded", func() ([]string, error) {
			r := v2Req
			r.RawPath = "/accounts/a%2Fb/transfers"
			return middleware.EvalKey(ctx0, v2.PathSegment(1), r)
		}, "a/b", ""},
		{"HTTP API empty path parameter", func() ([]string, error) {
			r := v2Req
			r.PathParameters = map[string]string{"id": " "}
			return middleware.EvalKey(ctx0, v2.PathParameter("id"), r)
		}, "", "empty value"},
		{"function URL has no path parameters", func() ([]string, error) { return middleware.EvalKey(ctx0, url.PathParameter("id"), urlReq) }, "", "use PathSegment"},
		{"function URL base64 body", func() ([]string, error) { return middleware.EvalKey(ctx0, url.Body("amount"), urlReq) }, "1200", ""},
		{"function URL path segment out of range", func() ([]string, error) { return middleware.EvalKey(ctx0, url.PathSegment(5), urlReq) }, "", "3 segments"},
		{"ALB query, URL-decoded", func() ([]string, error) { return middleware.EvalKey(ctx0, alb.Query("note"), albReq) }, "rent split", ""},
		{"ALB header", func() ([]string, error) { return middleware.EvalKey(ctx0, alb.Header("Idempotency-Key"), albReq) }, "tr-1004", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := tc.keys()
			if tc.wantErr != "" {
				if !errors.Is(err, middleware.ErrNoKey) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("keys = %q, %v; want ErrNoKey mentioning %q", ks, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(ks, []string{tc.want}) {
				t.Errorf("keys = %q, %v; want %q", ks, err, tc.want)
			}
		})
	}
}

var ctx0 = context.Background()

func noop(*events.APIGatewayProxyRequest) {}

// A 400's detail says what was missing, as far as the middleware's own key
// function knows; a custom KeyFunc's error stays in the log.
func TestWrapHTTPNoKeyDetail(t *testing.T) {
	e := newEnv(t)
	api := middleware.HTTPAPI()
	ok := func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	}
	custom := middleware.KeyFunc("account lookup", func(context.Context, events.APIGatewayV2HTTPRequest) ([]string, error) {
		return nil, errors.New("secret-table-7 lookup failed")
	})
	for _, tc := range []struct {
		name   string
		key    middleware.Key[events.APIGatewayV2HTTPRequest]
		want   string
		denied string
	}{
		{"own key function", api.Header("X-Account"), `header "X-Account": missing`, ""},
		{"custom key function", custom, "does not say what it changes", "secret-table-7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := must(middleware.WrapHTTP(e.c, api, tc.key, ok, e.opts()...))(t)
			resp, err := h(context.Background(), transferRequest(t, "42"))
			if err != nil || resp.StatusCode != 400 {
				t.Fatalf("%+v, %v; want 400", resp, err)
			}
			p := decodeProblem(t, resp)
			if !strings.Contains(p.Detail, tc.want) || (tc.denied != "" && strings.Contains(resp.Body, tc.denied)) {
				t.Errorf("detail %q: want %q, never %q", p.Detail, tc.want, tc.denied)
			}
		})
	}
	// Likewise for the idempotency key: its 400 names what the
	// middleware's own key function looked for, never a KeyFunc's error.
	for _, tc := range []struct {
		name   string
		key    middleware.Key[events.APIGatewayV2HTTPRequest]
		want   string
		denied string
	}{
		{"own idempotency key function", api.Header("Idempotency-Key-2"), `header "Idempotency-Key-2": missing`, ""},
		{"custom idempotency key function", custom, "the request has no idempotency key", "secret-table-7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := must(middleware.WrapHTTP(e.c, api, api.PathParameter("id"), ok, e.opts(middleware.WithIdempotency(tc.key))...))(t)
			resp, err := h(context.Background(), transferRequest(t, "42"))
			if err != nil || resp.StatusCode != 400 {
				t.Fatalf("%+v, %v; want 400", resp, err)
			}
			p := decodeProblem(t, resp)
			if p.Type != problemNoIdempotencyKey || !strings.Contains(p.Detail, tc.want) ||
				(tc.denied != "" && (strings.Contains(resp.Body, tc.denied) || strings.Contains(resp.Body, "account lookup"))) {
				t.Errorf("problem %+v: want %s with %q, never %q or the KeyFunc's name", p, problemNoIdempotencyKey, tc.want, tc.denied)
			}
		})
	}
}
