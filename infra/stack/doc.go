// Package stack defines DynaLock's example CDK stack: the lock and
// application tables, the three example functions with their SQS,
// EventBridge and schedule triggers, dead-letter queues, alarms and outputs.
package stack
