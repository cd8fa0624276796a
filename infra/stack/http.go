package stack

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
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

// addTransfersAPI defines the HTTP API (payload format 2.0) whose route
// POST TransfersPath invokes AccountTransfers. The example API has no
// authorizer: put one (IAM or JWT) on the route before real use.
func (s *ExampleStack) addTransfersAPI() {
	s.HTTPAPI = awsapigatewayv2.NewHttpApi(s.Stack, jsii.String("TransfersApi"), &awsapigatewayv2.HttpApiProps{
		Description: jsii.String("DynaLock example: account transfers, one per account at a time"),
	})
	s.HTTPAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:    jsii.String(TransfersPath),
		Methods: &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_POST},
		Integration: awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("TransfersIntegration"), s.Functions[AccountTransfers],
			&awsapigatewayv2integrations.HttpLambdaIntegrationProps{PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0()}),
	})
}
