package stack

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
)

// TransfersPath is the route of AccountTransfers on the HTTP API, with
// POST: the path parameter is the account (accounts.TransferPathParameter).
const TransfersPath = "/accounts/{id}/transfers"

// TransfersTimeout is AccountTransfers' timeout: well below the 30 s for
// which an HTTP API waits for a Lambda integration (29 s for REST APIs)
// before it answers 504, so that a request whose lock wait runs out still
// reaches its client as a 409 with Retry-After.
const TransfersTimeout = 10 * time.Second

// TransfersAccessLogFormat is the HTTP API's access log line, one JSON
// object per request: who called (the IAM principal that signed the
// request), which route, what came back, and why a request failed before
// or in the integration. These are the HTTP API's $context variables.
const TransfersAccessLogFormat = `{"requestId":"$context.requestId","requestTime":"$context.requestTime",` +
	`"ip":"$context.identity.sourceIp","caller":"$context.identity.caller","user":"$context.identity.user",` +
	`"userArn":"$context.identity.userArn","accountId":"$context.identity.accountId",` +
	`"routeKey":"$context.routeKey","path":"$context.path","status":"$context.status",` +
	`"responseLength":"$context.responseLength","latency":"$context.responseLatency",` +
	`"integrationLatency":"$context.integrationLatency","integrationStatus":"$context.integrationStatus",` +
	`"error":"$context.error.message","authorizerError":"$context.authorizer.error",` +
	`"integrationError":"$context.integrationErrorMessage"}`

// addTransfersAPI defines the HTTP API (payload format 2.0) whose route
// POST TransfersPath invokes AccountTransfers.
//
// The route takes IAM authorization: a caller signs its request with
// Signature Version 4 (service execute-api) and API Gateway lets it through
// only if the signing principal's policies allow execute-api:Invoke on the
// route (GrantInvokeTransfers in CDK); anything else gets 403 and
// never reaches the function. IAM rather than a JWT authorizer because the
// callers of a money-transfer API are services with AWS credentials, not
// people with an identity provider's tokens: no token issuer to run, and
// access is granted and audited where the rest of the stack's is.
//
// The API's default stage writes an access log line per request
// (TransfersAccessLogFormat, including the calling principal's ARN) to a
// log group kept as long as the functions' logs.
func (s *ExampleStack) addTransfersAPI(c config) {
	s.TransfersAccessLogs = awslogs.NewLogGroup(s.Stack, jsii.String("TransfersApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     c.logRetention,
		RemovalPolicy: c.removal,
	})
	s.HTTPAPI = awsapigatewayv2.NewHttpApi(s.Stack, jsii.String("TransfersApi"), &awsapigatewayv2.HttpApiProps{
		Description:        jsii.String("DynaLock example: account transfers, one per account at a time"),
		CreateDefaultStage: jsii.Bool(false),
	})
	s.TransfersStage = s.HTTPAPI.AddStage(jsii.String("DefaultStage"), &awsapigatewayv2.HttpStageOptions{
		StageName:         jsii.String("$default"),
		AutoDeploy:        jsii.Bool(true),
		AccessLogSettings: &accessLogs{s.TransfersAccessLogs},
	})
	routes := s.HTTPAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:       jsii.String(TransfersPath),
		Methods:    &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_POST},
		Authorizer: awsapigatewayv2authorizers.NewHttpIamAuthorizer(),
		Integration: awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("TransfersIntegration"), s.Functions[AccountTransfers],
			&awsapigatewayv2integrations.HttpLambdaIntegrationProps{PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0()}),
	})
	s.TransfersRoute = (*routes)[0]
}

// accessLogs are a stage's access log settings: TransfersAccessLogFormat
// to a log group.
type accessLogs struct{ group awslogs.ILogGroup }

func (a *accessLogs) Destination() awsapigatewayv2.IAccessLogDestination {
	return awsapigatewayv2.NewLogGroupLogDestination(a.group)
}

func (a *accessLogs) Format() awsapigateway.AccessLogFormat {
	return awsapigateway.AccessLogFormat_Custom(jsii.String(TransfersAccessLogFormat))
}

// TransfersInvokeResource is the part of the transfers route's
// execute-api ARN after the API's ID: stage, method and path, the path
// parameter as a wildcard.
const TransfersInvokeResource = "$default/POST/accounts/*/transfers"

// GrantInvokeTransfers allows grantee to call POST TransfersPath on the
// default stage (execute-api:Invoke on that route's ARN) and returns the
// grant. It is narrower than TransfersRoute.GrantInvoke, whose ARN ends at
// the first path parameter (any stage, POST /accounts/*).
func (s *ExampleStack) GrantInvokeTransfers(grantee awsiam.IGrantable) awsiam.Grant {
	arn := s.Stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("execute-api"),
		Resource:     s.HTTPAPI.ApiId(),
		ResourceName: jsii.String(TransfersInvokeResource),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
	return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("execute-api:Invoke"),
		ResourceArns: jsii.Strings(*arn),
	})
}
