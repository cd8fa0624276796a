// Package report turns the output of the benchmarks in package bench into
// one table, with the floor and the peer beside DynaLock and each target
// checked, and into JSON that two commits' runs can be compared by.
package report

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Result is one line of go test -bench output.
type Result struct {
	// Name is the benchmark's name without "Benchmark" and the GOMAXPROCS
	// suffix, such as "Cycle/conc=8/impl=dynalock".
	Name string `json:"name"`
	// Iterations is the b.N of the line.
	Iterations int `json:"iterations"`
	// Values are the line's figures by unit, such as "ns/op" or "cycles/s".
	Values map[string]float64 `json:"values"`
}

// Parse reads go test -bench output and returns its result lines, in
// order. It also returns the "cpu:" header's value, if any.
func Parse(r io.Reader) (results []Result, cpu string, err error) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for s.Scan() {
		line := s.Text()
		if v, ok := strings.CutPrefix(line, "cpu: "); ok {
			cpu = strings.TrimSpace(v)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		res, ok, err := parseLine(line)
		if err != nil {
			return nil, cpu, err
		}
		if ok {
			results = append(results, res)
		}
	}
	return results, cpu, s.Err()
}

// parseLine parses "BenchmarkName-2  N  v unit  v unit ...". Lines
// without figures (a benchmark's name printed before its sub-benchmarks)
// are skipped.
func parseLine(line string) (Result, bool, error) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 {
		return Result{}, false, nil
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return Result{}, false, nil
	}
	name := strings.TrimPrefix(f[0], "Benchmark")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	res := Result{Name: name, Iterations: n, Values: make(map[string]float64)}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Result{}, false, fmt.Errorf("report: %q: value %q: %w", line, f[i], err)
		}
		res.Values[f[i+1]] = v
	}
	return res, true, nil
}

// Figures are benchmark figures by name and unit.
type Figures map[string]map[string]float64

// Medians returns, for each benchmark name and unit, the median of its
// results (a run with -count above 1 has several).
func Medians(results []Result) Figures {
	all := make(map[string]map[string][]float64)
	for _, r := range results {
		if all[r.Name] == nil {
			all[r.Name] = make(map[string][]float64)
		}
		for unit, v := range r.Values {
			all[r.Name][unit] = append(all[r.Name][unit], v)
		}
	}
	out := make(Figures, len(all))
	for name, units := range all {
		out[name] = make(map[string]float64, len(units))
		for unit, vs := range units {
			slices.Sort(vs)
			m := vs[len(vs)/2]
			if len(vs)%2 == 0 {
				m = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
			}
			out[name][unit] = m
		}
	}
	return out
}

// Get returns the figure of benchmark name in unit.
func (f Figures) Get(name, unit string) (float64, bool) {
	v, ok := f[name][unit]
	return v, ok
}
