package demo

import (
	"testing"
	"time"
)

// sampleTenants returns a per-tenant scene where the limit held: the busy
// tenant's exports in waves of TenantPermits, the other's at once.
func sampleTenants() *TenantRun {
	t0 := time.Now()
	run := &TenantRun{Permits: TenantPermits, Instances: tenantInstances, Work: exportWork, Queue: TenantsQueue(),
		Sent: []TenantSent{{"acme", busyExports}, {otherTenant, otherExports}}, Dead: map[string]bool{}, Sent0: t0}
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for i := range busyExports {
		wave := i / TenantPermits
		run.Exports = append(run.Exports, ExportRecord{Tenant: "acme", Export: "e-" + string(rune('1'+i)),
			Started: at(1000 * wave), Finished: at(1000*wave + 400), Runs: 1})
	}
	for i := range otherExports {
		run.Exports = append(run.Exports, ExportRecord{Tenant: otherTenant, Export: "e-" + string(rune('1'+i)),
			Started: at(1000), Finished: at(1400), Runs: 1})
	}
	return run
}

func TestPeakOverlap(t *testing.T) {
	t0 := time.Now()
	span := func(from, to int) ExportRecord {
		return ExportRecord{Started: t0.Add(time.Duration(from) * time.Second), Finished: t0.Add(time.Duration(to) * time.Second)}
	}
	tests := []struct {
		name string
		recs []ExportRecord
		want int
	}{
		{"none", nil, 0},
		{"one", []ExportRecord{span(0, 1)}, 1},
		{"apart", []ExportRecord{span(0, 1), span(2, 3)}, 1},
		{"one ends as the next starts", []ExportRecord{span(0, 1), span(1, 2), span(2, 3)}, 1},
		{"nested", []ExportRecord{span(0, 10), span(1, 2), span(3, 4)}, 2},
		{"staggered", []ExportRecord{span(0, 3), span(1, 4), span(2, 5), span(3, 6)}, 3},
		{"all at once", []ExportRecord{span(0, 1), span(0, 1), span(0, 1), span(0, 1)}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PeakOverlap(tt.recs); got != tt.want {
				t.Errorf("PeakOverlap = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestTenantStats(t *testing.T) {
	run := sampleTenants()
	run.Dead["acme#e-9"] = true
	run.Exports[0].Runs = 2
	got := run.Stats()
	if len(got) != 2 {
		t.Fatalf("%d tenants, want 2: %+v", len(got), got)
	}
	a, g := got[0], got[1]
	if a.Tenant != "acme" || a.Sent != busyExports || a.Recorded != busyExports || a.Peak != TenantPermits || a.Twice != 1 || a.Dead != 1 {
		t.Errorf("acme: %+v", a)
	}
	if g.Tenant != otherTenant || g.Recorded != otherExports || g.Peak != otherExports || g.Dead != 0 || g.Done != 1400*time.Millisecond {
		t.Errorf("%s: %+v", otherTenant, g)
	}
}
