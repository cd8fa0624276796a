package locktable

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/dynalock/dynalock/admin"
)

// Actions returns the DynamoDB actions a lock.Client sends: one conditional
// UpdateItem acquires, extends or releases a lock, and a waiter reads the
// held lock's item (GetItem) between its writes. (Without GetItem a waiter
// still works, writing at every step, at about three times the cost.)
// Listing locks (dynalock's list command) needs more; functions do not.
func Actions() []string { return []string{"dynamodb:GetItem", "dynamodb:UpdateItem"} }

// WriteActions returns the DynamoDB actions a lock.Client sends for
// holders that also use lock.Lease.Write, whose transaction checks the
// lease without changing it: Actions plus dynamodb:ConditionCheckItem.
// lock.Lease.Complete (with items or not) and the middleware's idempotency
// release and complete with updates, which Actions covers.
// TransactWriteItems has no IAM action of its own: each of its items is
// authorised by its own action (the caller's items by theirs, on their
// tables).
func WriteActions() []string {
	return []string{"dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:UpdateItem"}
}

// LeadingKeysCondition is the IAM condition operator GrantLock uses to
// restrict lock IDs to prefixes: every partition key the request touches
// must match one of the patterns.
const LeadingKeysCondition = "ForAllValues:StringLike"

// GrantLock grants grantee the Actions on this table's ARN and nothing else,
// and returns the grant. With idPrefixes, the grant covers only lock IDs
// that start with one of them (condition dynamodb:LeadingKeys); characters
// IAM would read as wildcards or variables (* ? $) match only themselves.
// Without idPrefixes, any lock ID in the table is allowed. With a
// Props.Shape's PartitionKeyPrefix, the patterns start with it.
func (t *LockTable) GrantLock(grantee awsiam.IGrantable, idPrefixes ...string) awsiam.Grant {
	return grant(grantee, *t.TableArn(), t.def, Actions(), idPrefixes)
}

// GrantLockWrite is GrantLock with the WriteActions: for holders that make
// lease-checked writes.
func (t *LockTable) GrantLockWrite(grantee awsiam.IGrantable, idPrefixes ...string) awsiam.Grant {
	return grant(grantee, *t.TableArn(), t.def, WriteActions(), idPrefixes)
}

// grant grants actions on the lock items of the table arn, of shape def,
// whose lock IDs start with one of idPrefixes (any, without).
func grant(grantee awsiam.IGrantable, arn string, def admin.TableDefinition, actions, idPrefixes []string) awsiam.Grant {
	opts := &awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings(actions...),
		ResourceArns: jsii.Strings(arn),
	}
	if len(idPrefixes) == 0 && def.PartitionKeyPrefix != "" {
		idPrefixes = []string{""} // every lock item, and nothing else
	}
	if len(idPrefixes) > 0 {
		keys := make([]string, len(idPrefixes))
		for i, p := range idPrefixes {
			keys[i] = def.PartitionKeyPrefix + p
		}
		opts.Conditions = &map[string]*map[string]interface{}{
			LeadingKeysCondition: {"dynamodb:LeadingKeys": LeadingKeyPatterns(keys...)},
		}
	}
	return awsiam.Grant_AddToPrincipal(opts)
}

// LeadingKeyPatterns returns the StringLike patterns that match the lock
// IDs starting with each prefix: the prefix with IAM's special characters
// escapes (${*}, ${?}, ${$}) and a trailing *.
func LeadingKeyPatterns(prefixes ...string) []string {
	escape := strings.NewReplacer("$", "${$}", "*", "${*}", "?", "${?}")
	patterns := make([]string, len(prefixes))
	for i, p := range prefixes {
		patterns[i] = escape.Replace(p) + "*"
	}
	return patterns
}
