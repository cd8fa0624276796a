package demo

import (
	"fmt"
	"io"
	"strings"
)

// checkTenants adds the per-tenant limit's checks: no tenant ever had more
// exports running at once than its permits, and each export ran once.
// How long anything took is a figure (printTenants), never a check.
func (r *Report) checkTenants(add func(name string, ok bool, format string, args ...any)) {
	t := r.Tenants
	if t == nil {
		return
	}
	stats := t.Stats()
	limitOK, recorded := true, 0
	var peaks []string
	for _, st := range stats {
		limitOK = limitOK && st.Peak <= t.Permits
		recorded += st.Recorded
		peaks = append(peaks, fmt.Sprintf("%s at most %d of %d at once", st.Tenant, st.Peak, st.Sent))
	}
	add("no tenant ever ran more exports at once than its permits", limitOK && recorded > 0,
		"TENANT_PERMITS=%d; %s (from the export records' start and end times)", t.Permits, strings.Join(peaks, ", "))
	sent, twice, dead, missing := 0, 0, 0, 0
	for _, st := range stats {
		sent += st.Sent
		twice += st.Twice
		dead += st.Dead
		// An export whose message was dead-lettered was never
		// acknowledged: absent or recorded once, never twice.
		missing += st.Sent - st.Recorded - st.Dead
	}
	onceOK := twice == 0 && missing <= 0
	detail := fmt.Sprintf("%d of %d exports recorded, %d of them more than once", recorded, sent, twice)
	if dead > 0 {
		detail += fmt.Sprintf("; %d dead-lettered (never acknowledged; section 7)", dead)
	}
	add("each export ran once", onceOK && recorded > 0, "%s", detail)
}

// printTenants writes the per-tenant limit scene.
func (r *Report) printTenants(w io.Writer) {
	t := r.Tenants
	if t == nil {
		return
	}
	pf := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	var sent []string
	for _, s := range t.Sent {
		sent = append(sent, fmt.Sprintf("%s of tenant %s", count(s.Exports, "export", "exports"), s.Tenant))
	}
	pf("  %-17s %s, in that order, one SQS message each, to %d %s environments at once (one message per invocation, as the stack's queue);",
		"did", strings.Join(sent, ", then "), t.Instances, TenantExports)
	pf("  %-17s TENANT_PERMITS=%d (middleware.WithPermits: lock tenant-exports/<tenant> has %d permits); each export works %s;", "", t.Permits, t.Permits, t.Work)
	pf("  %-17s how many ran at once is read from the export records' start and end times", "")
	for _, st := range t.Stats() {
		pf("  %-17s %s: at most %d at once; all done %.1fs after sending", st.Tenant, count(st.Sent, "export", "exports"), st.Peak, st.Done.Seconds())
	}
	d := t.Delivery
	pf("  %-17s %d invocations; %d records found their tenant's %d permits taken and came back in batchItemFailures: %d redeliveries, %d visibility changes (about a second each, not the %s visibility timeout)",
		TenantExports, d.Invocations, t.Contended, t.Permits, d.Redelivered, d.VisibilityChanges, t.Queue.Visibility)
	pf("  %-17s Lambda limits concurrency per function or queue; the permits limit it per tenant, and one tenant's backlog does not hold another's exports back", "shows")
}
