// Package stack defines DynaLock's example CDK stack: the lock and
// application tables, the five example functions with their SQS,
// EventBridge, schedule, HTTP API and DynamoDB Streams triggers,
// dead-letter queues, alarms and outputs. The HTTP API's route takes IAM
// authorization (GrantInvokeTransfers lets a caller in) and writes access
// logs; cdk-nag's AwsSolutions rules pass over the stack, with the few
// suppressions it needs stated, and why, beside the resources.
package stack
