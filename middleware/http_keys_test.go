package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/middleware"
)

// loadAWS decodes AWS's sample event testdata/aws-lambda-go/name into v.
func loadAWS(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "aws-lambda-go", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("testdata/aws-lambda-go/%s: %v", name, err)
	}
}

// keyCase is one key function over one request, and the key it must give,
// or the substring of its ErrNoKey error.
type keyCase struct {
	name    string
	keys    func() ([]string, error)
	want    string
	wantErr string
}

func runKeyCases(t *testing.T, cases []keyCase) {
	t.Helper()
	for _, tc := range cases {
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

// TestHTTPRepeatedValues: a header or query parameter sent several times
// gives, on every kind of trigger that passes all the values
// (multiValueHeaders, multiValueQueryStringParameters: REST APIs, load
// balancers with multi-value headers on), the first, as documented, and
// not the one a single-value map holds (there API Gateway and a load
// balancer put the last). Where the trigger passes one value (HTTP APIs
// and function URLs join them with commas; a load balancer without
// multi-value headers passes the last), that value. Header names match
// without regard to case on every kind; query names are exact. The
// requests are AWS's own samples, with what each trigger passes for a
// client that sent X-Account: a, then X-Account: b, and ?account=a&account=b.
func TestHTTPRepeatedValues(t *testing.T) {
	rest, alb, url, v2 := middleware.RESTAPI(), middleware.ALB(), middleware.FunctionURL(), middleware.HTTPAPI()

	var restReq events.APIGatewayProxyRequest
	loadAWS(t, "apigw-request.json", &restReq)
	restReq.Headers["X-Account"] = "b"
	restReq.MultiValueHeaders["X-Account"] = []string{"a", "b"}
	restReq.QueryStringParameters["account"] = "b"
	restReq.MultiValueQueryStringParameters["account"] = []string{"a", "b"}
	// The same header under a second spelling, which a REST API keeps as
	// the client wrote it, apart from the first: the event does not say
	// which came first.
	spelt := func(value string) events.APIGatewayProxyRequest {
		var r events.APIGatewayProxyRequest
		loadAWS(t, "apigw-request.json", &r)
		r.Headers["X-Account"], r.MultiValueHeaders["X-Account"] = "a", []string{"a"}
		r.Headers["x-account"], r.MultiValueHeaders["x-account"] = value, []string{value}
		return r
	}

	var albMV events.ALBTargetGroupRequest
	loadAWS(t, "alb-lambda-target-request-multivalue-headers.json", &albMV)
	albMV.MultiValueHeaders["x-account"] = []string{"a", "b"} // the load balancer writes names in lower case
	albMV.MultiValueQueryStringParameters["account"] = []string{"a", "b"}
	albMV.MultiValueQueryStringParameters["note"] = []string{"rent%20split", "other"}

	var albSV events.ALBTargetGroupRequest
	loadAWS(t, "alb-lambda-target-request-headers-only.json", &albSV)
	albSV.Headers["x-account"] = "b" // multi-value headers off: the last
	albSV.QueryStringParameters["account"] = "b"

	var urlReq events.LambdaFunctionURLRequest
	loadAWS(t, "lambda-urls-request.json", &urlReq) // header2: value1,value2; parameter1=value1&parameter1=value2

	var v2Req events.APIGatewayV2HTTPRequest
	loadAWS(t, "apigw-v2-request-no-authorizer.json", &v2Req)

	runKeyCases(t, []keyCase{
		{"REST header: the first", func() ([]string, error) { return middleware.EvalKey(ctx0, rest.Header("X-Account"), restReq) }, "a", ""},
		{"REST header, other case: the first", func() ([]string, error) { return middleware.EvalKey(ctx0, rest.Header("x-ACCOUNT"), restReq) }, "a", ""},
		{"REST header as the sample spells it, other case", func() ([]string, error) { return middleware.EvalKey(ctx0, rest.Header("Cache-Control"), restReq) }, "no-cache", ""},
		{"REST query: the first", func() ([]string, error) { return middleware.EvalKey(ctx0, rest.Query("account"), restReq) }, "a", ""},
		{"REST query of the sample", func() ([]string, error) { return middleware.EvalKey(ctx0, rest.Query("name"), restReq) }, "me", ""},
		{"REST query names are exact", func() ([]string, error) { return middleware.EvalKey(ctx0, rest.Query("Account"), restReq) }, "", `query parameter "Account": missing`},
		{"REST header under two spellings, one value", func() ([]string, error) { return middleware.EvalKey(ctx0, rest.Header("X-Account"), spelt("a")) }, "a", ""},
		{"REST header under two spellings, two values", func() ([]string, error) { return middleware.EvalKey(ctx0, rest.Header("X-Account"), spelt("c")) }, "",
			"sent under several spellings"},
		{"REST header only single-value", func() ([]string, error) {
			r := restReq
			r.MultiValueHeaders = nil
			return middleware.EvalKey(ctx0, rest.Header("X-Account"), r)
		}, "b", ""},
		{"ALB multi-value header: the first", func() ([]string, error) { return middleware.EvalKey(ctx0, alb.Header("X-Account"), albMV) }, "a", ""},
		{"ALB multi-value header of the sample, other case", func() ([]string, error) { return middleware.EvalKey(ctx0, alb.Header("X-MyHeader"), albMV) }, "123", ""},
		{"ALB multi-value query: the first", func() ([]string, error) { return middleware.EvalKey(ctx0, alb.Query("account"), albMV) }, "a", ""},
		{"ALB multi-value query: the first, URL-decoded", func() ([]string, error) { return middleware.EvalKey(ctx0, alb.Query("note"), albMV) }, "rent split", ""},
		{"ALB multi-value query of the sample", func() ([]string, error) { return middleware.EvalKey(ctx0, alb.Query("key"), albMV) }, "hello", ""},
		{"ALB single-value header: the last, all there is", func() ([]string, error) { return middleware.EvalKey(ctx0, alb.Header("X-Account"), albSV) }, "b", ""},
		{"ALB single-value query: the last, all there is", func() ([]string, error) { return middleware.EvalKey(ctx0, alb.Query("account"), albSV) }, "b", ""},
		{"function URL header: joined with commas", func() ([]string, error) { return middleware.EvalKey(ctx0, url.Header("Header2"), urlReq) }, "value1,value2", ""},
		{"function URL query: joined with commas", func() ([]string, error) { return middleware.EvalKey(ctx0, url.Query("parameter1"), urlReq) }, "value1,value2", ""},
		{"HTTP API header, other case", func() ([]string, error) { return middleware.EvalKey(ctx0, v2.Header("X-Forwarded-Proto"), v2Req) }, "https", ""},
	})

	// The lock is the first value's: held, the request is refused.
	t.Run("REST: the lock is taken on the first value", func(t *testing.T) {
		e := newEnv(t)
		ran := false
		h := must(middleware.WrapHTTP(e.c, rest, rest.Header("X-Account"),
			func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
				ran = true
				return events.APIGatewayProxyResponse{StatusCode: 201}, nil
			}, e.opts()...))(t)
		e.hold("a", 5*time.Second)
		resp, err := h(context.Background(), restReq)
		if err != nil || resp.StatusCode != 409 || ran {
			t.Errorf("%d, %v (handler ran: %v); want 409: the lock of account a is held", resp.StatusCode, err, ran)
		}
	})
}
