package stack

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/jsii-runtime-go"
)

// Settings of TenantExports and its queue.
const (
	// ExportsLockNamespace is the namespace of the tenants' permits,
	// "tenant-exports/<tenant>": functions/tenant-exports/main.go's
	// lockNamespace (a test checks that they agree).
	ExportsLockNamespace = "tenant-exports"
	// EnvTenantPermits is the variable that sets how many exports of one
	// tenant run at once.
	EnvTenantPermits = "TENANT_PERMITS"
	// TenantPermits is the stack's TENANT_PERMITS: the function's own
	// default, set explicitly so that the limit shows in the template.
	// Every function sharing ExportsLockNamespace must use the same count.
	TenantPermits = 3
	// ExportsTimeout is TenantExports' timeout.
	ExportsTimeout = 30 * time.Second
	// ExportsBatchSize is one export per invocation. The middleware runs a
	// batch's records of one tenant one after the other, so a batch would
	// only hold a tenant's later exports back behind its first; one per
	// invocation lets Lambda scale out, and the tenant's permits, not the
	// batch, bound how many run at once.
	ExportsBatchSize = 1
	// ExportsMaxReceiveCount is ExportsQueue's maxReceiveCount. A tenant
	// over its limit is contention by design: its exports fail and come
	// back (in about a second with the visibility backoff, at most once a
	// holder's lease can have ended) until a permit is free, so they get
	// more receives than the SQS default of reserve-stock's queues before
	// the dead-letter queue: 10, as the middleware's documentation advises
	// for keys under heavy contention.
	ExportsMaxReceiveCount = 10
)

// addExportsQueue defines the standard queue that feeds TenantExports
// (described by fnSpec), with its dead-letter queue, and its event source
// mapping, which reports batch item failures: a record whose tenant has
// every permit taken comes back alone.
func (s *ExampleStack) addExportsQueue(fnSpec functionSpec, c config) {
	s.ExportsQueue = s.newSourceQueue("ExportsQueue", false, fnSpec, ExportsMaxReceiveCount, c)
	s.Functions[fnSpec.name].AddEventSource(awslambdaeventsources.NewSqsEventSource(s.ExportsQueue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(ExportsBatchSize),
		ReportBatchItemFailures: jsii.Bool(true),
	}))
}
