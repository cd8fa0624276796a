package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/demo"
)

// The middleware limits a key to N (WithPermits), end to end:
// tenant-exports' environments, more of them than the permits, take one
// tenant's exports and another's from one queue, and the export records
// show no more than N of one tenant running at once, each export once.
func TestTenantExportsRunAtMostPermitsPerTenant(t *testing.T) {
	ctx := context.Background()
	samples, err := demo.LoadSamples("../../events")
	if err != nil {
		t.Fatal(err)
	}
	// GIVEN two permits per tenant and four environments
	const permits = 2
	// WHEN one tenant's exports, then another's, are delivered at once
	run, err := stack.RunTenants(ctx, samples.Exports, permits, 4, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// THEN no tenant ran more than two at once, and each export ran once
	t.Logf("%d invocations, %d found their tenant's permits taken, %d redeliveries, %d visibility changes",
		run.Delivery.Invocations, run.Contended, run.Delivery.Redelivered, run.Delivery.VisibilityChanges)
	recorded := 0
	for _, st := range run.Stats() {
		t.Logf("%s: %d of %d recorded, at most %d at once, all done %s after sending", st.Tenant, st.Recorded, st.Sent, st.Peak, st.Done)
		if st.Peak > permits {
			t.Errorf("%s: %d exports ran at once, with %d permits", st.Tenant, st.Peak, permits)
		}
		if st.Twice > 0 || st.Recorded+st.Dead < st.Sent {
			t.Errorf("%s: %d exports sent, %d recorded (%d more than once), %d dead-lettered", st.Tenant, st.Sent, st.Recorded, st.Twice, st.Dead)
		}
		recorded += st.Recorded
	}
	if recorded == 0 {
		t.Error("no export recorded")
	}
	nothingLocked(t)
}
