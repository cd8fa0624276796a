package worker

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/internal/chaos/ledger"
	"github.com/dynalock/dynalock/internal/testshape"
)

// Ledger returns the run's ledger: its own table in the seed's shape; in
// the shared shape (Config.Shape), items of the lock table itself, each in
// its lock item's partition under the application's sort key value.
func Ledger(db ledger.API, shape testshape.Shape, table string) *ledger.Ledger {
	if !shape.IsShared() {
		return ledger.New(db, table)
	}
	return ledger.NewKeyed(db, table, func(id string) map[string]types.AttributeValue {
		return shape.AppKey(shape.Table.PartitionKeyPrefix + id)
	})
}

// keyLockID returns the lock ID whose item a request's key names, and
// whether it is a lock item of def at all (not a ledger item of a shared
// table). pk and sk are the key's partition and sort key values.
func keyLockID(def admin.TableDefinition, pk, sk string) (string, bool) {
	if def.SortKey != "" && sk != def.SortKeyValue {
		return "", false
	}
	return strings.CutPrefix(pk, def.PartitionKeyPrefix)
}
