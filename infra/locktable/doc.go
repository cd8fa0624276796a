// Package locktable is a CDK construct for DynaLock's lock table: the key
// and TTL attribute of the lock package's table definition, on-demand
// billing, point-in-time recovery, encryption at rest, kept on stack
// deletion, and a grant of exactly the DynamoDB actions the lock uses.
package locktable
