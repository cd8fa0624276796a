package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/lockopt"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// TestIdempotentHTTPReplay: each kind of trigger, the same request sent
// twice with one Idempotency-Key: the handler runs once, and the second
// request gets the first's whole response, marked as replayed.
func TestIdempotentHTTPReplay(t *testing.T) {
	t.Parallel()
	t.Run("REST API", func(t *testing.T) {
		api := middleware.RESTAPI()
		var req events.APIGatewayProxyRequest
		loadEvent(t, "rest-api-transfer.json", &req)
		checkReplay(t, api, req, api.PathParameter("id"), api.Header("Idempotency-Key"),
			events.APIGatewayProxyResponse{StatusCode: 201, Headers: map[string]string{"Location": "/transfers/1"},
				MultiValueHeaders: map[string][]string{"Set-Cookie": {"a=1", "b=2"}}, Body: `{"id":1}`},
			func(r events.APIGatewayProxyResponse) map[string]string { return r.Headers })
	})
	t.Run("HTTP API", func(t *testing.T) {
		api := middleware.HTTPAPI()
		var req events.APIGatewayV2HTTPRequest
		loadEvent(t, "http-api-transfer.json", &req)
		checkReplay(t, api, req, api.PathParameter("id"), api.Header("Idempotency-Key"),
			events.APIGatewayV2HTTPResponse{StatusCode: 201, Headers: map[string]string{"Location": "/transfers/1"},
				Cookies: []string{"c=3"}, Body: "eyJpZCI6MX0=", IsBase64Encoded: true},
			func(r events.APIGatewayV2HTTPResponse) map[string]string { return r.Headers })
	})
	t.Run("function URL", func(t *testing.T) {
		api := middleware.FunctionURL()
		var req events.LambdaFunctionURLRequest
		loadEvent(t, "function-url-transfer.json", &req)
		checkReplay(t, api, req, api.PathSegment(1), api.Header("Idempotency-Key"),
			events.LambdaFunctionURLResponse{StatusCode: 202, Body: "accepted", Cookies: []string{"d=4"}},
			func(r events.LambdaFunctionURLResponse) map[string]string { return r.Headers })
	})
	t.Run("ALB", func(t *testing.T) {
		api := middleware.ALB()
		var req events.ALBTargetGroupRequest
		loadEvent(t, "alb-transfer.json", &req)
		checkReplay(t, api, req, api.PathSegment(1), api.Header("Idempotency-Key"),
			events.ALBTargetGroupResponse{StatusCode: 201, StatusDescription: "201 Created", Headers: map[string]string{"Location": "/t/1"}, Body: "alb"},
			func(r events.ALBTargetGroupResponse) map[string]string { return r.Headers })
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
		checkReplay(t, api, req, api.PathSegment(1), api.Header("Idempotency-Key"),
			events.ALBTargetGroupResponse{StatusCode: 201, StatusDescription: "201 Created", MultiValueHeaders: map[string][]string{"Set-Cookie": {"a=1", "b=2"}}, Body: "alb-mv"},
			func(r events.ALBTargetGroupResponse) map[string]string {
				h := map[string]string{}
				for k, v := range r.MultiValueHeaders {
					if len(v) > 0 {
						h[k] = v[0]
					}
				}
				return h
			})
	})
}

// checkReplay sends req twice through WrapHTTP with idempotency keyed by
// idem: the first time the handler answers own; the second time it must
// not run, and the answer is own with the replay header added.
func checkReplay[Req, Resp any](t *testing.T, api middleware.HTTP[Req, Resp], req Req, key, idem middleware.Key[Req], own Resp, headers func(Resp) map[string]string) {
	t.Helper()
	e := newEnv(t)
	var runs atomic.Int32
	h := must(middleware.WrapHTTP(e.c, api, key, func(ctx context.Context, _ Req) (Resp, error) {
		runs.Add(1)
		return own, nil
	}, e.opts(middleware.WithIdempotency(idem))...))(t)
	ctx, _ := lambdaCtx(t, "first", 10*time.Second)
	first, err := h(ctx, req)
	if err != nil || !equalJSON(t, first, own) {
		t.Fatalf("first: %+v, %v; want the handler's %+v", first, err, own)
	}
	if _, replayed := headers(first)[replayedHeader]; replayed {
		t.Errorf("first response marked as replayed: %+v", first)
	}
	ctx, _ = lambdaCtx(t, "retry", 10*time.Second)
	second, err := h(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}
	if got := headers(second)[replayedHeader]; got != "true" {
		t.Errorf("retry's headers %v: want Idempotent-Replayed: true", headers(second))
	}
	// Apart from that header, the stored response is the handler's.
	var a, b map[string]any
	ja, _ := json.Marshal(own)
	jb, _ := json.Marshal(second)
	if json.Unmarshal(ja, &a) != nil || json.Unmarshal(jb, &b) != nil {
		t.Fatal("responses do not encode")
	}
	for _, field := range []string{"headers", "multiValueHeaders"} {
		if m, ok := b[field].(map[string]any); ok {
			delete(m, replayedHeader)
			if len(m) == 0 {
				b[field] = a[field] // made for the header: null in the handler's
			}
		}
	}
	if !equalJSON(t, a, b) {
		t.Errorf("replayed %s\nwant      %s (plus the replay header)", jb, ja)
	}
}

// httpAnswer is what the tests' handler answers on one run: a response
// of that status whose body names the run, or err.
type httpAnswer struct {
	status int
	err    error
	body   string // "" for "run <n>"
}

// TestIdempotentHTTP: deliveries of one request (and of requests reusing
// its key) through WrapHTTP with idempotency keyed by the Idempotency-Key
// header: which run the handler, and what each gets.
func TestIdempotentHTTP(t *testing.T) {
	t.Parallel()
	api := middleware.HTTPAPI()
	big := strings.Repeat("x", lock.MaxResultBytes)
	type delivery struct {
		mod    func(*events.APIGatewayV2HTTPRequest) // nil: the request as it is
		answer httpAnswer                            // the handler's, if it runs
		// want
		ran      bool
		status   int    // 0: an error instead, matching err
		err      error  // with status 0
		replayed string // the run whose response is replayed; "" for none
		problem  string
	}
	otherBody := func(r *events.APIGatewayV2HTTPRequest) { r.Body = `{"transferId":"tr-1001","amount":-9999}` }
	otherPath := func(r *events.APIGatewayV2HTTPRequest) {
		r.RawPath, r.PathParameters = "/accounts/43/transfers", map[string]string{"id": "43"}
	}
	otherMethod := func(r *events.APIGatewayV2HTTPRequest) { r.RequestContext.HTTP.Method = "PUT" }
	otherQuery := func(r *events.APIGatewayV2HTTPRequest) { r.QueryStringParameters = map[string]string{"dryRun": "true"} }
	otherHeaders := func(r *events.APIGatewayV2HTTPRequest) {
		r.Headers = map[string]string{"idempotency-key": "tr-1001", "authorization": "Bearer fresh", "x-amzn-trace-id": "Root=2"}
	}
	noKey := func(r *events.APIGatewayV2HTTPRequest) { delete(r.Headers, "idempotency-key") }
	ok := httpAnswer{status: 201}
	boom := errors.New("boom")
	for _, tc := range []struct {
		name       string
		client     lock.Config
		deliveries []delivery
	}{
		{name: "a retry gets the stored response", deliveries: []delivery{
			{answer: ok, ran: true, status: 201},
			{ran: false, status: 201, replayed: "run 1"},
			{ran: false, status: 201, replayed: "run 1"},
		}},
		{name: "a 4xx is the request's outcome: stored", deliveries: []delivery{
			{answer: httpAnswer{status: 404}, ran: true, status: 404},
			{answer: ok, ran: false, status: 404, replayed: "run 1"},
		}},
		{name: "a 5xx is not stored: the retry runs", deliveries: []delivery{
			{answer: httpAnswer{status: 503}, ran: true, status: 503},
			{answer: httpAnswer{status: 500}, ran: true, status: 500},
			{answer: ok, ran: true, status: 201},
			{ran: false, status: 201, replayed: "run 3"},
		}},
		{name: "a handler error releases the claim: the retry runs", deliveries: []delivery{
			{answer: httpAnswer{err: boom}, ran: true, err: boom},
			{answer: ok, ran: true, status: 201},
			{ran: false, status: 201, replayed: "run 2"},
		}},
		{name: "another body under the key: 422", deliveries: []delivery{
			{answer: ok, ran: true, status: 201},
			{mod: otherBody, ran: false, status: 422, problem: problemIdempotencyKeyReused},
			{ran: false, status: 201, replayed: "run 1"},
		}},
		{name: "another path under the key: 422", deliveries: []delivery{
			{answer: ok, ran: true, status: 201},
			{mod: otherPath, ran: false, status: 422, problem: problemIdempotencyKeyReused},
		}},
		{name: "another method under the key: 422", deliveries: []delivery{
			{answer: ok, ran: true, status: 201},
			{mod: otherMethod, ran: false, status: 422, problem: problemIdempotencyKeyReused},
		}},
		{name: "another query under the key: 422", deliveries: []delivery{
			{answer: ok, ran: true, status: 201},
			{mod: otherQuery, ran: false, status: 422, problem: problemIdempotencyKeyReused},
		}},
		{name: "after a failure the key may carry a corrected request", deliveries: []delivery{
			{answer: httpAnswer{status: 500}, ran: true, status: 500},
			{mod: otherBody, answer: ok, ran: true, status: 201},
			{mod: otherBody, ran: false, status: 201, replayed: "run 2"},
			{ran: false, status: 422, problem: problemIdempotencyKeyReused},
		}},
		{name: "headers are not compared", deliveries: []delivery{
			{answer: ok, ran: true, status: 201},
			{mod: otherHeaders, ran: false, status: 201, replayed: "run 1"},
		}},
		{name: "no key: 400", deliveries: []delivery{
			{mod: noKey, ran: false, status: 400, problem: problemNoIdempotencyKey},
		}},
		{name: "a response too large to store fails, and the retry runs", deliveries: []delivery{
			{answer: httpAnswer{status: 200, body: big}, ran: true, err: middleware.ErrResultTooLarge},
			{answer: ok, ran: true, status: 201},
			{ran: false, status: 201, replayed: "run 2"},
		}},
		{name: "a completion expires (the client's CompletionExpiry)", client: lock.Config{CompletionExpiry: time.Millisecond}, deliveries: []delivery{
			{answer: ok, ran: true, status: 201},
			{answer: ok, ran: true, status: 201},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			var (
				runs   atomic.Int32
				answer atomic.Pointer[httpAnswer]
			)
			h := must(middleware.WrapHTTP(e.client(tc.client), api, api.PathParameter("id"),
				func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
					n := runs.Add(1)
					a := answer.Load()
					if a.err != nil {
						return events.APIGatewayV2HTTPResponse{}, a.err
					}
					body := a.body
					if body == "" {
						body = "run " + strconv.Itoa(int(n))
					}
					return events.APIGatewayV2HTTPResponse{StatusCode: a.status, Headers: map[string]string{"Content-Type": "text/plain"}, Body: body}, nil
				}, e.opts(middleware.WithIdempotency(api.Header("Idempotency-Key")))...))(t)
			for i, d := range tc.deliveries {
				answer.Store(&d.answer)
				before := runs.Load()
				req := transferRequest(t, "42")
				if d.mod != nil {
					d.mod(&req)
				}
				ctx, _ := lambdaCtx(t, "req-"+strconv.Itoa(i), 10*time.Second)
				resp, err := h(ctx, req)
				ran := runs.Load() != before
				if ran != d.ran {
					t.Errorf("delivery %d: handler ran %v, want %v", i+1, ran, d.ran)
				}
				if d.status == 0 {
					if !errors.Is(err, d.err) {
						t.Errorf("delivery %d: %v, want an error matching %v", i+1, err, d.err)
					}
					time.Sleep(5 * time.Millisecond)
					continue
				}
				if err != nil || resp.StatusCode != d.status {
					t.Fatalf("delivery %d: status %d, %v; want %d (body %.200s)", i+1, resp.StatusCode, err, d.status, resp.Body)
				}
				if got := resp.Headers[replayedHeader]; (got == "true") != (d.replayed != "") || d.replayed != "" && resp.Body != d.replayed {
					t.Errorf("delivery %d: %s %q, body %q; want replayed %q", i+1, replayedHeader, got, resp.Body, d.replayed)
				}
				if d.problem != "" {
					if p := decodeProblem(t, resp); p.Type != d.problem {
						t.Errorf("delivery %d: problem %+v, want type %s", i+1, p, d.problem)
					}
				}
				time.Sleep(5 * time.Millisecond) // past a 1 ms completion expiry
			}
			e.requireFree("42", "43")
		})
	}
}

// TestIdempotentHTTPInProgress: a request sent again while the first is
// still being handled (a client that gave up waiting for its answer) gets
// 409 with Retry-After, or with Wait the first one's response once it is
// stored; the handler runs once.
func TestIdempotentHTTPInProgress(t *testing.T) {
	t.Parallel()
	api := middleware.HTTPAPI()
	for _, tc := range []struct {
		name     string
		policy   middleware.HeldPolicy
		status   int
		replayed bool
	}{
		{"fail: 409", middleware.Fail, 409, false},
		{"wait: the stored response", middleware.Wait, 201, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			started, finish := make(chan struct{}), make(chan struct{})
			var runs atomic.Int32
			// Each delivery its own account: only the claim is shared.
			h := must(middleware.WrapHTTP(e.c, api, api.Header("x-account"),
				func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
					if runs.Add(1) == 1 {
						close(started)
						<-finish
					}
					return events.APIGatewayV2HTTPResponse{StatusCode: 201, Body: "made"}, nil
				}, e.opts(middleware.WithIdempotency(api.Header("Idempotency-Key")), middleware.WithOnHeld(tc.policy))...))(t)
			send := func(account string) (events.APIGatewayV2HTTPResponse, error) {
				req := transferRequest(t, "42")
				req.Headers["x-account"] = account
				ctx, _ := lambdaCtx(t, "req-"+account, 10*time.Second)
				return h(ctx, req)
			}
			first := make(chan error, 1)
			go func() {
				_, err := send("a")
				first <- err
			}()
			<-started
			type answer struct {
				resp events.APIGatewayV2HTTPResponse
				err  error
			}
			dup := make(chan answer, 1)
			go func() {
				resp, err := send("b")
				dup <- answer{resp, err}
			}()
			if tc.policy == middleware.Wait {
				time.Sleep(300 * time.Millisecond) // the duplicate waits
			} else {
				a := <-dup
				dup <- a
			}
			close(finish)
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			a := <-dup
			if a.err != nil || a.resp.StatusCode != tc.status || (a.resp.Headers[replayedHeader] == "true") != tc.replayed {
				t.Fatalf("duplicate in progress: %+v, %v; want %d, replayed %v", a.resp, a.err, tc.status, tc.replayed)
			}
			if tc.status == 409 {
				p := decodeProblem(t, a.resp)
				secs, err := strconv.Atoi(a.resp.Headers["Retry-After"])
				if p.Type != problemRequestInProgress || err != nil || secs < 1 || secs > 12 {
					t.Errorf("problem %+v, Retry-After %q: want %s, at most the claim's lease", p, a.resp.Headers["Retry-After"], problemRequestInProgress)
				}
			}
			if runs.Load() != 1 {
				t.Errorf("handler ran %d times, want 1", runs.Load())
			}
			e.requireFree("a", "b")
		})
	}
}

// TestIdempotentHTTPStoppedInvocation: the claim of a request whose
// invocation Lambda stopped at its timeout (it never completes or
// releases) answers 409 until its lease ends, the grace after that
// invocation's deadline; then a retry runs the handler.
func TestIdempotentHTTPStoppedInvocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := middleware.HTTPAPI()
	other := e.otherClient(lock.Config{})
	var runs atomic.Int32
	h := must(middleware.WrapHTTP(e.c, api, api.PathParameter("id"),
		func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			runs.Add(1)
			return events.APIGatewayV2HTTPResponse{StatusCode: 201}, nil
		}, e.opts(middleware.WithIdempotency(api.Header("Idempotency-Key")))...))(t)
	req := transferRequest(t, "42")
	// The stopped invocation's claim: a lease of 3 s (no payload hash, so
	// none to compare).
	cl, err := other.Claim(context.Background(), admin.ClaimID("test", "", "tr-1001"), nil, lockopt.TTL(3*time.Second))
	if err != nil || cl.Lease == nil {
		t.Fatalf("claim: %+v, %v", cl, err)
	}
	ctx, _ := lambdaCtx(t, "retry-1", 10*time.Second)
	resp, err := h(ctx, req)
	// Retry-After: the lease's end plus the tolerance, rounded up.
	if ra, _ := strconv.Atoi(resp.Headers["Retry-After"]); err != nil || resp.StatusCode != 409 || ra < 1 || ra > 4 {
		t.Fatalf("while the claim's lease lasts: %d %v, %v; want 409, Retry-After: 1 to 4", resp.StatusCode, resp.Headers, err)
	}
	time.Sleep(time.Until(cl.Lease.Deadline().Add(3 * testSkew)))
	ctx, _ = lambdaCtx(t, "retry-2", 10*time.Second)
	if resp, err := h(ctx, req); err != nil || resp.StatusCode != 201 || runs.Load() != 1 {
		t.Errorf("after the lease: %d, %v, %d runs; want 201 from a run", resp.StatusCode, err, runs.Load())
	}
}

// TestIdempotentHTTPComplete: a handler's lease.Complete completes the
// request in its transaction. A response it returns after is stored when
// it differs from what Complete stored (there none), but not a 5xx: the
// effect is committed (running again would not redo it), so its retries
// get an error, not a response. A response Complete stored answers retries
// even if the handler's process dies right after.
func TestIdempotentHTTPComplete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	table := appTable(t)
	api := middleware.HTTPAPI()
	var runs atomic.Int32
	h := must(middleware.WrapHTTP(e.c, api, api.PathParameter("id"),
		func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			runs.Add(1)
			lease, err := leaseOf(ctx)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			switch key := req.Headers["idempotency-key"]; key {
			case "then-500", "then-201":
				if err := lease.Complete(ctx, nil, add(table, key, 1)); err != nil {
					return events.APIGatewayV2HTTPResponse{}, err
				}
				if key == "then-201" {
					return events.APIGatewayV2HTTPResponse{StatusCode: 201, Body: "after the write"}, nil
				}
				return events.APIGatewayV2HTTPResponse{StatusCode: 500, Body: "after the write"}, nil
			default: // "dies"
				resp := events.APIGatewayV2HTTPResponse{StatusCode: 201, Body: "stored with the write"}
				b, err := json.Marshal(resp)
				if err == nil {
					err = lease.Complete(ctx, b, add(table, "dies", 1))
				}
				if err != nil {
					return events.APIGatewayV2HTTPResponse{}, err
				}
				panic("the process dies after its write")
			}
		}, e.opts(middleware.WithIdempotency(api.Header("Idempotency-Key")))...))(t)
	send := func(key string) (events.APIGatewayV2HTTPResponse, error) {
		req := transferRequest(t, "42")
		req.Headers["idempotency-key"] = key
		ctx, _ := lambdaCtx(t, "req-"+key, 10*time.Second)
		return h(ctx, req)
	}
	if resp, err := send("then-500"); err != nil || resp.StatusCode != 500 || resp.Body != "after the write" {
		t.Errorf("then-500: %+v, %v; want the 500", resp, err)
	}
	if resp, err := send("then-500"); !errors.Is(err, middleware.ErrNoResult) {
		t.Errorf("then-500, retry: %+v, %v; want ErrNoResult: completed, no response stored", resp, err)
	}
	for i := range 2 {
		resp, err := send("then-201")
		if err != nil || resp.StatusCode != 201 || resp.Body != "after the write" || (resp.Headers[replayedHeader] == "true") != (i > 0) {
			t.Errorf("then-201, delivery %d: %+v, %v; want the 201, replayed the second time", i+1, resp, err)
		}
	}
	func() {
		defer func() { _ = recover() }()
		_, _ = send("dies")
	}()
	if resp, err := send("dies"); err != nil || resp.StatusCode != 201 || resp.Body != "stored with the write" {
		t.Errorf("dies, retry: %+v, %v; want Complete's response", resp, err)
	}
	for _, k := range []string{"then-500", "then-201", "dies"} {
		if n := itemCount(t, table, k); n != 1 {
			t.Errorf("count of %s %d, want 1", k, n)
		}
	}
	if n := runs.Load(); n != 3 {
		t.Errorf("%d runs, want 3", n)
	}
	e.requireFree("42")
}
