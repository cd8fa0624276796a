package report

import (
	"os"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
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
	tests := []struct {
		name, unit string
		want       float64
	}{
		{"Cycle/conc=1/impl=dynalock", "allocs/op", 795},
		{"Cycle/conc=1/impl=dynalock", "req/op", 2},
		{"CycleRatio/conc=8", "dynalock/floor", 1.005},
		{"Ops/impl=peer/op=acquire", "req/op", 2},
		{"Ops/impl=dynalock/op=acquire", "p50-ms", 0.9}, // median of 0.8, 0.9, 1.2
	}
	figs := Medians(results)
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
	f, err := os.Open("testdata/sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	results, _, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	rows := New(results).Rows
	want := map[string]struct{ dynalock, met string }{
		"Uncontended acquire+release, cycles/s, 8 workers (× floor)":           {"534 (1.00×)", "✓"},
		"Requests per acquire (p50 latency)":                                   {"1 (900 µs)", "✓"},
		"Handoff under contention, release → next waiter's acquire, p50 / p99": {"18.0 ms / 91.0 ms", "✓"},
		"SQS batch of 10 (distinct keys): round trips in sequence":             {"2", "✓"},
		"Binary, linux/arm64 -trimpath -s -w (zipped)":                         {"9.9 MB (3.8 MB)", ""},
	}
	seen := 0
	for _, r := range rows {
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
