package stack_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/dynalock/dynalock/infra/stack"
)

// TestTransfersAPIAuthorization: the transfers route moves money, so API
// Gateway must refuse every request not signed by an IAM principal allowed
// to invoke it.
func TestTransfersAPIAuthorization(t *testing.T) {
	// GIVEN the example stack
	f := synth()
	d := templateOf(t, f.tpl)

	// WHEN its routes are examined
	routes := d.ofType("AWS::ApiGatewayV2::Route")
	if len(routes) == 0 {
		t.Fatal("no routes")
	}
	// THEN each takes IAM authorization
	for _, id := range routes {
		equal(t, id+" AuthorizationType", d.props(id)["AuthorizationType"], "AWS_IAM")
	}
	// AND the API has no other way in: no authorizer resource that could
	// be swapped for a weaker one, no default route
	if a := d.ofType("AWS::ApiGatewayV2::Authorizer"); len(a) != 0 {
		t.Errorf("authorizers %v: IAM authorization needs none", a)
	}
	for _, id := range routes {
		if k := d.props(id)["RouteKey"]; k == "$default" {
			t.Errorf("route %s is the $default route", id)
		}
	}
}

// TestGrantInvokeTransfers: GrantInvokeTransfers gives a caller
// execute-api:Invoke on POST of the transfers route, on the default stage,
// and nothing else.
func TestGrantInvokeTransfers(t *testing.T) {
	// GIVEN an example stack and a role of a calling service
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	ex := stack.NewExampleStack(app, "Granted", &stack.ExampleStackProps{AssetDir: assetDir})
	caller := awsiam.NewRole(ex.Stack, jsii.String("Caller"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
	})

	// WHEN the route is granted to it
	ex.GrantInvokeTransfers(caller)

	// THEN its policy allows execute-api:Invoke on that route's ARN only
	d := templateOf(t, assertions.Template_FromStack(ex.Stack, nil))
	role := logicalID(t, ex.Stack, caller.RoleName())
	api := logicalID(t, ex.Stack, ex.HTTPAPI.ApiId())
	var found int
	for _, st := range d.statements(t) {
		if !slices.Contains(st.roles, role) {
			continue
		}
		found++
		equal(t, "Actions", st.actions, []string{"execute-api:Invoke"})
		arn, _ := json.Marshal(st.resources)
		if len(st.resources) != 1 || !strings.Contains(string(arn), `{"Ref":"`+api+`"}`) ||
			!strings.HasSuffix(string(arn), `"/$default/POST/accounts/*/transfers"]]}]`) {
			t.Errorf("resources %s, want the ARN of this API's POST %s on $default", arn, stack.TransfersPath)
		}
	}
	if found != 1 {
		t.Errorf("%d statements for the caller, want 1", found)
	}
}

// TestTransfersAPIAccessLogs: every request to the API, refused or not,
// leaves a line (with the calling principal) in a log group that is kept
// for a bounded time.
func TestTransfersAPIAccessLogs(t *testing.T) {
	for _, tt := range []struct {
		name      string
		tpl       func(*fixture) assertions.Template
		retention float64
		policy    string
	}{
		{"defaults", func(f *fixture) assertions.Template { return f.tpl }, 30, "Retain"},
		{"configured", func(f *fixture) assertions.Template { return f.cfgTpl }, 30, "Delete"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// GIVEN the stack
			d := templateOf(t, tt.tpl(synth()))

			// WHEN its API's stages are examined
			stages := d.ofType("AWS::ApiGatewayV2::Stage")
			if len(stages) != 1 {
				t.Fatalf("%d stages, want 1", len(stages))
			}
			p := d.props(stages[0])

			// THEN the one stage is $default, deployed automatically, with
			// access logs in JSON naming the request and the caller
			equal(t, "StageName", p["StageName"], "$default")
			equal(t, "AutoDeploy", p["AutoDeploy"], true)
			settings, _ := p["AccessLogSettings"].(map[string]any)
			format, _ := settings["Format"].(string)
			for _, v := range []string{"$context.requestId", "$context.identity.userArn", "$context.routeKey", "$context.status", "$context.authorizer.error"} {
				if !strings.Contains(format, v) {
					t.Errorf("access log format lacks %s: %q", v, format)
				}
			}
			if format != stack.TransfersAccessLogFormat {
				t.Errorf("access log format %q, want TransfersAccessLogFormat", format)
			}
			// AND they go to a log group of the stack with a retention
			group, attr, ok := getAtt(settings["DestinationArn"])
			if !ok || attr != "Arn" || d.resources[group]["Type"] != "AWS::Logs::LogGroup" {
				t.Fatalf("DestinationArn %v is not a log group of the stack", settings["DestinationArn"])
			}
			equal(t, "RetentionInDays", d.props(group)["RetentionInDays"], tt.retention)
			equal(t, "DeletionPolicy", d.resources[group]["DeletionPolicy"], tt.policy)
		})
	}
}
