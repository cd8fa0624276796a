package report

import (
	"os"
	"strings"
	"testing"
)

func sample(t *testing.T) []Result {
	t.Helper()
	f, err := os.Open("testdata/sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	results, cpu, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if cpu != "AMD EPYC" {
		t.Errorf("cpu %q", cpu)
	}
	return results
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, unit string
		want       float64
	}{
		{"Cycle/conc=1/impl=dynalock", "allocs/op", 810},
		{"Cycle/conc=1/impl=dynalock", "req/op", 2},
		{"CycleRatio/conc=8", "dynalock/minimal", 0.8937},
		{"Ops/impl=peer/op=acquire", "req/op", 2},
		{"Ops/impl=dynalock/op=acquire", "p50-ms", 0.9259}, // median of 0.8, 0.9259, 1.2
		{"Capacity/impl=dynalock", "write-release-wcu", 4},
	}
	figs := Medians(sample(t))
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.unit, func(t *testing.T) {
			got, ok := figs.Get(tt.name, tt.unit)
			if !ok || got != tt.want {
				t.Errorf("got %v (%v), want %v", got, ok, tt.want)
			}
		})
	}
}

func TestRows(t *testing.T) {
	rows := New(sample(t)).Rows
	want := map[string]struct{ dynalock, met string }{
		"Uncontended acquire+release, cycles/s, on loopback, 8 workers (× minimal; × peer)":   {"642 (0.89×; 1.00× peer; 1.06× replay)", "✗"},
		"Requests per acquire (p50 latency, loopback)":                                        {"1 (926 µs)", "✓"},
		"Capacity per acquire (request units)":                                                {"1 WRU", "✓"},
		"Capacity per contended attempt (request units)":                                      {"1 WRU (computed)", ""},
		"Lock item with typical holder details, largest (bytes)":                              {"485", "✓"},
		"Capacity of a critical section with one application write (acquire, write, release)": {"token-fenced: 3 WRU; Lease.Complete: 5 WRU", ""},
		"Handoff under contention, release → next waiter's acquire, p50 / p99":                {"20.3 ms / 103 ms", "✓"},
		"SQS batch of 10 (distinct keys): round trips in sequence":                            {"2", "✓"},
		"Binary, linux/arm64 -trimpath -s -w (zipped)":                                        {"wrapped 9.9 MB (3.8 MB); lockonly 9.7 MB (3.7 MB)", ""},
	}
	seen := 0
	for _, r := range rows {
		if w, ok := want[r.Measure]; ok {
			seen++
			if r.DynaLock != w.dynalock || r.Met != w.met {
				t.Errorf("%s: got %q %q, want %q %q", r.Measure, r.DynaLock, r.Met, w.dynalock, w.met)
			}
		}
		for _, c := range []string{r.DynaLock, r.Floor, r.Minimal, r.Peer} {
			if strings.Contains(c, "n/a") {
				t.Errorf("%s: a figure is missing: %q", r.Measure, c)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d rows checked", seen, len(want))
	}
	md := Markdown(rows)
	if n := strings.Count(md, "\n"); n != len(rows)+2 {
		t.Errorf("markdown has %d lines, want %d", n, len(rows)+2)
	}
}

func TestMissingFigures(t *testing.T) {
	for _, r := range Rows(Figures{}) {
		if r.Met != "" {
			t.Errorf("%s: met %q without figures", r.Measure, r.Met)
		}
		if r.DynaLock == "" {
			t.Errorf("%s: empty DynaLock cell", r.Measure)
		}
	}
}
