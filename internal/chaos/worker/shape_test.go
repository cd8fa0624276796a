package worker

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/internal/chaos/history"
	"github.com/dynalock/dynalock/internal/testshape"
)

// TestClassifySharedTable: in the shared shape, the lock table's requests
// on lock items are lock operations on the lock ID without its prefix,
// and those on the ledger's items beside them are the ledger's.
func TestClassifySharedTable(t *testing.T) {
	shape, err := testshape.Named("shared")
	if err != nil {
		t.Fatal(err)
	}
	body := func(sk string) []byte {
		return []byte(`{"TableName":"locks","Key":{"PK":{"S":"lock#chaos-a"},"SK":{"S":"` + sk + `"}},"ReturnValues":"ALL_NEW",` +
			`"ExpressionAttributeNames":{"#lease":"LeaseId"},"ExpressionAttributeValues":{":lease":{"S":"L1"}}}`)
	}
	if r := classify(shape.Table, "locks", body("LOCK")); r.op != history.OpAcquire || r.lock != "chaos-a" || r.lease != "L1" {
		t.Errorf("a lock item's acquire: %+v", r)
	}
	if r := classify(shape.Table, "locks", body(testshape.AppSortKey)); r.op != "ledger" {
		t.Errorf("a ledger item beside the locks: %+v, want the ledger's", r)
	}
	in := &dynamodb.UpdateItemInput{Key: shape.Table.Key("chaos-b")}
	if got := lockID(shape.Table, in); got != "chaos-b" {
		t.Errorf("lockID = %q, want chaos-b", got)
	}
}
