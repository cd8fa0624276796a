package stack

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/examples/shop/stock"
)

// Settings of LowStockAlerts' DynamoDB Streams trigger on the application
// table.
const (
	// AlertsBatchSize is how many stream records one invocation gets at
	// most; the middleware runs them one after the other.
	AlertsBatchSize = 10
	// AlertsRetryAttempts bounds the retries of a failing batch (each
	// retry starts at the first failed record, ReportBatchItemFailures;
	// BisectBatchOnFunctionError halves a batch whose invocation fails
	// outright); then the batch's description goes to the on-failure
	// queue and the shard moves on, so one stuck SKU cannot stop the
	// stream for the 24 hours its records are kept.
	AlertsRetryAttempts = 5
	// AlertsMaxRecordAge drops (to the on-failure queue) records older
	// than this, alerts about stock that has long changed since.
	AlertsMaxRecordAge = time.Hour
	// AlertsTimeout is LowStockAlerts' timeout.
	AlertsTimeout = 30 * time.Second
)

// AlertsFailureQueueID is the construct ID of the queue that receives
// the descriptions of stream batches LowStockAlerts gave up on (shard,
// sequence number range; the records themselves stay in the stream for
// 24 hours).
const AlertsFailureQueueID = "LowStockAlertsFailures"

// addLowStockStream subscribes LowStockAlerts to the application table's
// stream (NEW_AND_OLD_IMAGES, see newAppTable), filtered to SKU items so
// the function is not invoked for accounts and its own alerts. The event
// source grants the function's role the stream reads on this stream's ARN
// and dynamodb:ListStreams (which has no resource), and SendMessage on
// the on-failure queue.
func (s *ExampleStack) addLowStockStream(c config) {
	failures := s.newDeadLetterQueue(AlertsFailureQueueID, false, c)
	fn := s.Functions[LowStockAlerts]
	// dynamodb:ListStreams on "*" is the one wildcard of the stack, and
	// AWS requires it: ListStreams supports no resource-level permissions
	// (IAM's service authorization reference lists no resource type for
	// it), so a policy can grant it only on "*". It lists stream ARNs and
	// reads no data; the stream reads themselves (DescribeStream,
	// GetRecords, GetShardIterator) are granted on this stream's ARN only.
	cdknag.NagSuppressions_AddResourceSuppressions(fn.Role(), &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("dynamodb:ListStreams supports no resource-level permissions, so AWS requires Resource \"*\"; the stream's reads are on its ARN only"),
		AppliesTo: &[]any{"Resource::*"},
	}}, jsii.Bool(true))
	fn.AddEventSource(awslambdaeventsources.NewDynamoEventSource(s.AppTable, &awslambdaeventsources.DynamoEventSourceProps{
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(AlertsBatchSize),
		ReportBatchItemFailures: jsii.Bool(true),
		BisectBatchOnError:      jsii.Bool(true),
		RetryAttempts:           jsii.Number(AlertsRetryAttempts),
		MaxRecordAge:            seconds(AlertsMaxRecordAge),
		OnFailure:               awslambdaeventsources.NewSqsDlq(failures),
		Filters: &[]*map[string]any{awslambda.FilterCriteria_Filter(&map[string]any{
			"dynamodb": map[string]any{"Keys": map[string]any{appdata.PartitionKey: map[string]any{
				"S": awslambda.FilterRule_BeginsWith(jsii.String(stock.ID(""))),
			}}},
		})},
	}))
}
