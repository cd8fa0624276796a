package stack_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/infra/stack"
)

func TestTransfersAPI(t *testing.T) {
	// GIVEN the example stack
	f := synth()
	d := templateOf(t, f.tpl)
	fn := logicalID(t, f.example.Stack, f.example.Functions[stack.AccountTransfers].FunctionName())
	api := logicalID(t, f.example.Stack, f.example.HTTPAPI.ApiId())

	// WHEN its HTTP API is examined
	// THEN it is an HTTP API with one route, the function's, through a
	// Lambda proxy integration of payload format 2.0
	equal(t, "ProtocolType", d.props(api)["ProtocolType"], "HTTP")
	routes := d.ofType("AWS::ApiGatewayV2::Route")
	if len(routes) != 1 {
		t.Fatalf("%d routes, want 1", len(routes))
	}
	route := d.props(routes[0])
	equal(t, "RouteKey", route["RouteKey"], accounts.TransferRoute)
	if strings.TrimPrefix(accounts.TransferRoute, "POST ") != stack.TransfersPath {
		t.Errorf("the route %q and the stack's path %q differ", accounts.TransferRoute, stack.TransfersPath)
	}
	ints := d.ofType("AWS::ApiGatewayV2::Integration")
	if len(ints) != 1 {
		t.Fatalf("%d integrations, want 1", len(ints))
	}
	in := d.props(ints[0])
	equal(t, "IntegrationType", in["IntegrationType"], "AWS_PROXY")
	equal(t, "PayloadFormatVersion", in["PayloadFormatVersion"], "2.0")
	if target, _, _ := getAtt(in["IntegrationUri"]); target != fn {
		t.Errorf("IntegrationUri %v, want %s's ARN", in["IntegrationUri"], fn)
	}
	// AND the function's timeout leaves the 409 time to reach the client
	// before API Gateway's own 30 s limit
	if got := number(t, d.props(fn)["Timeout"], "Timeout"); got >= 29 {
		t.Errorf("Timeout %v s, want below API Gateway's 29–30 s", got)
	}
	// AND API Gateway may invoke it only for this API's route
	var permissions []string
	for _, id := range d.ofType("AWS::Lambda::Permission") {
		p := d.props(id)
		if target, _, _ := getAtt(p["FunctionName"]); target != fn {
			continue
		}
		src, _ := json.Marshal(p["SourceArn"])
		permissions = append(permissions, string(src))
		if p["Principal"] != "apigateway.amazonaws.com" || !strings.Contains(string(src), api) || !strings.Contains(string(src), stack.TransfersPath) {
			t.Errorf("permission %s: principal %v, source %s; want API Gateway, this API's route", id, p["Principal"], src)
		}
	}
	if len(permissions) != 1 {
		t.Errorf("%d permissions to invoke %s, want 1: %v", len(permissions), stack.AccountTransfers, permissions)
	}
}
