// Package locktable is a CDK construct for DynaLock's lock table: the key
// and TTL attribute of the lock package's table definition, on-demand
// billing, point-in-time recovery, encryption at rest, kept on stack
// deletion, and a grant of exactly the DynamoDB actions the lock uses.
//
// A CDK app in Go imports it as github.com/dynalock/dynalock/infra/locktable.
// It belongs to the module github.com/dynalock/dynalock/infra, not to the
// library's: the AWS CDK, jsii and constructs come only with this module,
// so that functions that import lock and middleware do not carry them.
package locktable
