package report

import "testing"

// TestPermitsRows checks the rows of BenchmarkPermits from the sample.
func TestPermitsRows(t *testing.T) {
	want := map[string]struct{ dynalock, met string }{
		"4 permits, N-1 held: requests (write units) of an acquire, a release, an attempt refused when all are held, a lapsed permit's takeover; item bytes": {
			"acquire 1 (2); release 1 (2); refused 1 (2); takeover 2 (4); 1247 bytes", "✓"},
		"A waiter on a full semaphore (WithWait, default steps), per minute: requests (write units) at N = 1, 4, 16": {
			"N=1: 144 (144); N=4: 144 (288); N=16: 168 (840)", ""},
	}
	seen := 0
	for _, r := range New(sample(t)).Rows {
		if w, ok := want[r.Measure]; ok {
			seen++
			if r.DynaLock != w.dynalock || r.Met != w.met {
				t.Errorf("%s: got %q %q, want %q %q", r.Measure, r.DynaLock, r.Met, w.dynalock, w.met)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d rows checked", seen, len(want))
	}
}
