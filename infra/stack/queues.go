package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Queue settings, as AWS recommends for Lambda consumers.
const (
	// VisibilityTimeoutFactor is the source queues' visibility timeout in
	// function timeouts: at least six, so that a message is not handed to
	// another invocation while a throttled or retried batch still holds it.
	VisibilityTimeoutFactor = 6
	// MaxReceiveCount is how many receives a message gets before it moves
	// to the dead-letter queue; five or more keeps throttling alone from
	// sending messages there.
	MaxReceiveCount = 5
	// BatchSize is the event source mappings' batch size (the most a FIFO
	// queue allows).
	BatchSize = 10
	// DeadLetterRetentionDays is how long dead letters are kept: SQS's
	// maximum, 14 days.
	DeadLetterRetentionDays = 14
)

// addReserveStockQueues defines the standard and FIFO queues that feed
// ReserveStock (described by fnSpec), each with its dead-letter queue, and their event source
// mappings, which report batch item failures so that only the failed
// records (a held lock, a failed write) come back.
func (s *ExampleStack) addReserveStockQueues(fnSpec functionSpec, c config) {
	fn := s.Functions[fnSpec.name]
	source := func(id string, fifo bool) awssqs.Queue {
		q := s.newSourceQueue(id, fifo, fnSpec, MaxReceiveCount, c)
		fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(q, &awslambdaeventsources.SqsEventSourceProps{
			BatchSize:               jsii.Number(BatchSize),
			ReportBatchItemFailures: jsii.Bool(true),
		}))
		return q
	}
	s.Queue = source("ReserveStockQueue", false)
	s.FifoQueue = source("ReserveStockFifoQueue", true)
}

// newSourceQueue defines a queue that feeds fnSpec's function, encrypted
// and TLS-only, with a visibility timeout of VisibilityTimeoutFactor
// function timeouts and a dead-letter queue of its own kind after
// maxReceives receives.
func (s *ExampleStack) newSourceQueue(id string, fifo bool, fnSpec functionSpec, maxReceives int, c config) awssqs.Queue {
	dlq := s.newDeadLetterQueue(id+"DLQ", fifo, c)
	return awssqs.NewQueue(s.Stack, jsii.String(id), &awssqs.QueueProps{
		Fifo:                      fifoProp(fifo),
		ContentBasedDeduplication: fifoProp(fifo),
		VisibilityTimeout:         seconds(VisibilityTimeoutFactor * fnSpec.timeout),
		Encryption:                awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:                jsii.Bool(true),
		DeadLetterQueue:           &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(maxReceives)},
	})
}

// fifoProp is a FIFO-only queue property: true, or absent.
func fifoProp(fifo bool) *bool {
	if !fifo {
		return nil
	}
	return jsii.Bool(true)
}

// newDeadLetterQueue defines a dead-letter queue and an alarm on its depth.
func (s *ExampleStack) newDeadLetterQueue(id string, fifo bool, c config) awssqs.Queue {
	q := awssqs.NewQueue(s.Stack, jsii.String(id), &awssqs.QueueProps{
		Fifo:            fifoProp(fifo),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(DeadLetterRetentionDays)),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
	})
	// cdk-nag's AwsSolutions-SQS3 asks every queue to be a dead-letter
	// queue or to have one; it recognizes a queue named in another
	// queue's redrive policy, but not a function's or a stream's
	// on-failure destination. Each of these is a dead-letter queue, and
	// one behind it would only move the same messages again.
	cdknag.NagSuppressions_AddResourceSuppressions(q, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("this queue is itself a dead-letter queue (a queue's redrive target, or a function's or stream's on-failure destination), with an alarm on its depth"),
	}}, nil)
	s.DeadLetterQueues = append(s.DeadLetterQueues, q)
	s.Alarms = append(s.Alarms, s.newDepthAlarm(id+"Alarm", q, c))
	return q
}

// newDepthAlarm fires when q holds at least one visible message.
func (s *ExampleStack) newDepthAlarm(id string, q awssqs.Queue, c config) awscloudwatch.Alarm {
	a := awscloudwatch.NewAlarm(s.Stack, jsii.String(id), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("Messages are waiting in dead-letter queue " + *q.Node().Id() +
			": inspect them, fix the cause, then redrive them"),
		Metric: q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period:    awscdk.Duration_Minutes(jsii.Number(5)),
			Statistic: jsii.String("Maximum"),
		}),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	if c.alarmTopic != nil {
		action := awscloudwatchactions.NewSnsAction(c.alarmTopic)
		a.AddAlarmAction(action)
		a.AddOkAction(action)
	}
	return a
}
