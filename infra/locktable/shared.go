package locktable

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"

	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/lock"
)

// LockItems are the lock items kept in a table of the application's own
// (single-table design), for grants on them alone: the table is the
// application's, defined where its other items are.
type LockItems struct {
	// Table is the application's table.
	Table awsdynamodb.ITable
	def   admin.TableDefinition
}

// In returns the lock items of table, kept there in shape: lock.Config's
// PartitionKey, SortKey, SortKeyValue, PartitionKeyPrefix and TTLAttribute,
// as the functions' lock clients set them (its other fields are ignored).
// It fails with lock.ErrInvalidInput on a shape lock.NewClient would
// refuse. Give the shape a PartitionKeyPrefix: the grants then cover the
// lock items only (dynamodb:LeadingKeys), never the application's items.
func In(table awsdynamodb.ITable, shape lock.Config) (*LockItems, error) {
	def, err := admin.TableFor(shape)
	if err != nil {
		return nil, err
	}
	return &LockItems{Table: table, def: def}, nil
}

// GrantLock grants grantee the Actions on the table's ARN, on the lock
// items whose lock IDs start with one of idPrefixes, or on every lock item
// without: dynamodb:LeadingKeys patterns of the PartitionKeyPrefix and
// each prefix. Without a PartitionKeyPrefix and idPrefixes, the grant is
// on every item of the table, the application's included.
func (l *LockItems) GrantLock(grantee awsiam.IGrantable, idPrefixes ...string) awsiam.Grant {
	return grant(grantee, *l.Table.TableArn(), l.def, Actions(), idPrefixes)
}

// GrantLockWrite is GrantLock with the WriteActions: for holders that make
// lease-checked writes (their own items' actions are granted apart).
func (l *LockItems) GrantLockWrite(grantee awsiam.IGrantable, idPrefixes ...string) awsiam.Grant {
	return grant(grantee, *l.Table.TableArn(), l.def, WriteActions(), idPrefixes)
}
