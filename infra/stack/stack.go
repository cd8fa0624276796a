package stack

import (
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/infra/locktable"
)

// Environment variables the example functions read.
const (
	EnvLockTable = "LOCK_TABLE"
	EnvAppTable  = "APP_TABLE"
)

// ExampleStackProps configures an ExampleStack. Every field is optional.
type ExampleStackProps struct {
	awscdk.StackProps
	// AssetDir holds the functions' binaries, <AssetDir>/<function>/bootstrap.
	// The default is DefaultAssetDir, relative to the working directory.
	AssetDir string
	// RemovalPolicy applies to the tables and log groups. The default, "",
	// is awscdk.RemovalPolicy_RETAIN: data and logs outlive the stack.
	RemovalPolicy awscdk.RemovalPolicy
	// LogRetention is how long the functions' logs are kept. The default,
	// "", is one month.
	LogRetention awslogs.RetentionDays
	// AlarmTopic, when set, is notified when an alarm fires or recovers.
	// The default, nil, leaves the alarms without actions.
	AlarmTopic awssns.ITopic
	// AccountEventsPattern selects the events of the default bus that go to
	// AccountEvents. The default matches source AccountEventsSource,
	// detail-types AccountCredited and AccountDebited, with a
	// detail.accountId.
	AccountEventsPattern *awsevents.EventPattern
}

// ExampleStack is the example deployment: the lock table, the application
// table, the example functions and their triggers.
type ExampleStack struct {
	awscdk.Stack
	// LockTable holds the locks.
	LockTable *locktable.LockTable
	// AppTable holds the application data the locks protect.
	AppTable awsdynamodb.Table
	// Functions are the example functions, by name (ReserveStock, …).
	Functions map[string]awslambda.Function
	// Queue and FifoQueue trigger ReserveStock.
	Queue, FifoQueue awssqs.Queue
	// ExportsQueue triggers TenantExports: one message per export job,
	// {"tenantId": "...", "exportId": "..."}.
	ExportsQueue awssqs.Queue
	// DeadLetterQueues catch what the functions could not process: one per
	// SQS queue and one per asynchronously invoked function.
	DeadLetterQueues []awssqs.Queue
	// Alarms fire when a dead-letter queue holds a message, one per queue.
	Alarms []awscloudwatch.Alarm
	// HTTPAPI routes POST TransfersPath to AccountTransfers. Its stage is
	// TransfersStage, defined apart so that it can have access logs:
	// HTTPAPI.Url() and HTTPAPI.DefaultStage() are nil; use
	// TransfersStage.Url().
	HTTPAPI awsapigatewayv2.HttpApi
	// TransfersRoute is POST TransfersPath, with IAM authorization: grant
	// a caller execute-api:Invoke on it with GrantInvokeTransfers.
	TransfersRoute awsapigatewayv2.HttpRoute
	// TransfersStage is HTTPAPI's default stage, which serves the route at
	// the API's root URL (TransfersStage.Url()) and writes access logs.
	TransfersStage awsapigatewayv2.HttpStage
	// TransfersAccessLogs holds the HTTP API's access logs.
	TransfersAccessLogs awslogs.LogGroup
}

// NewExampleStack defines the example stack in scope. props may be nil. The
// stack is environment-agnostic unless props set an environment: no
// account, region or resource name is fixed.
func NewExampleStack(scope constructs.Construct, id string, props *ExampleStackProps) *ExampleStack {
	if props == nil {
		props = &ExampleStackProps{}
	}
	sprops := props.StackProps
	if sprops.Description == nil {
		sprops.Description = jsii.String("DynaLock example: DynamoDB locks for Lambda functions triggered by SQS, EventBridge, a schedule, an HTTP API and a DynamoDB stream, and a per-tenant concurrency limit")
	}
	s := &ExampleStack{
		Stack:     awscdk.NewStack(scope, jsii.String(id), &sprops),
		Functions: map[string]awslambda.Function{},
	}
	c := settings(props)

	s.LockTable = locktable.New(s.Stack, "LockTable", &locktable.Props{RemovalPolicy: c.removal})
	s.AppTable = newAppTable(s.Stack, c.removal)
	onFailure := map[string]awssqs.Queue{}
	specs := map[string]functionSpec{}
	for _, spec := range functionSpecs() {
		specs[spec.name] = spec
		if spec.async {
			onFailure[spec.name] = s.newDeadLetterQueue(spec.id+"DLQ", false, c)
		}
		s.Functions[spec.name] = s.newFunction(spec, onFailure[spec.name], c)
	}
	s.addReserveStockQueues(specs[ReserveStock], c)
	s.addExportsQueue(specs[TenantExports], c)
	s.addAccountEventsRule(props.AccountEventsPattern, onFailure[AccountEvents])
	s.addNightlySchedule(onFailure[NightlyRollup])
	s.addTransfersAPI(c)
	s.addLowStockStream(c)
	s.addOutputs()
	return s
}

// config is ExampleStackProps with defaults applied.
type config struct {
	assetDir     string
	removal      awscdk.RemovalPolicy
	logRetention awslogs.RetentionDays
	alarmTopic   awssns.ITopic
}

func settings(p *ExampleStackProps) config {
	c := config{assetDir: p.AssetDir, removal: p.RemovalPolicy, logRetention: p.LogRetention, alarmTopic: p.AlarmTopic}
	if c.assetDir == "" {
		c.assetDir = DefaultAssetDir
	}
	if abs, err := filepath.Abs(c.assetDir); err == nil {
		c.assetDir = abs
	}
	if c.removal == "" {
		c.removal = awscdk.RemovalPolicy_RETAIN
	}
	if c.logRetention == "" {
		c.logRetention = awslogs.RetentionDays_ONE_MONTH
	}
	return c
}

// newAppTable defines the application table from appdata's key.
func newAppTable(scope constructs.Construct, removal awscdk.RemovalPolicy) awsdynamodb.Table {
	return awsdynamodb.NewTable(scope, jsii.String("AppTable"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(appdata.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		Encryption: awsdynamodb.TableEncryption_AWS_MANAGED,
		// Both images, for LowStockAlerts (addLowStockStream).
		Stream:        awsdynamodb.StreamViewType_NEW_AND_OLD_IMAGES,
		RemovalPolicy: removal,
	})
}

func (s *ExampleStack) addOutputs() {
	out := func(id string, value *string, desc string) {
		awscdk.NewCfnOutput(s.Stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
	}
	out("LockTableName", s.LockTable.TableName(), "DynamoDB table holding the locks")
	out("AppTableName", s.AppTable.TableName(), "DynamoDB table holding the example data")
	out("QueueUrl", s.Queue.QueueUrl(), "standard SQS queue feeding "+ReserveStock)
	out("FifoQueueUrl", s.FifoQueue.QueueUrl(), "FIFO SQS queue feeding "+ReserveStock)
	out("ExportsQueueUrl", s.ExportsQueue.QueueUrl(), "standard SQS queue feeding "+TenantExports+": one export job per message")
	out("TransfersApiUrl", s.TransfersStage.Url(), "HTTP API of "+AccountTransfers+": POST "+TransfersPath)
	for _, spec := range functionSpecs() {
		out(spec.id+"FunctionName", s.Functions[spec.name].FunctionName(), "Lambda function "+spec.name)
	}
	for _, q := range s.DeadLetterQueues {
		out(*q.Node().Id()+"Url", q.QueueUrl(), "dead-letter queue "+*q.Node().Id())
	}
}
