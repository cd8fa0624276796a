package report

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Machine describes where a run happened.
type Machine struct {
	CPU           string  `json:"cpu"`
	Cores         int     `json:"cores"`
	MemoryGiB     float64 `json:"memoryGiB"`
	OS            string  `json:"os"`
	Kernel        string  `json:"kernel"`
	Go            string  `json:"go"`
	Java          string  `json:"java"`
	DynamoDBLocal string  `json:"dynamodbLocal"`
	// LoadBefore and LoadAfter are the load averages (1, 5, 15 min) when
	// the run started and ended: a shared machine's other work shows here.
	LoadBefore string `json:"loadBefore"`
	LoadAfter  string `json:"loadAfter"`
}

// Report is one run of the benchmarks: what make bench writes as JSON.
type Report struct {
	Date    string  `json:"date"`
	Commit  string  `json:"commit"`
	Dirty   bool    `json:"dirty"`
	Machine Machine `json:"machine"`
	// Command is the go test command that produced the results.
	Command string `json:"command"`
	// Benchmarks are the figures by benchmark and unit (medians when a
	// benchmark ran more than once).
	Benchmarks Figures `json:"benchmarks"`
	// Results are the benchmark output's lines, in order.
	Results []Result `json:"results"`
	// Rows are the table's rows.
	Rows []Row `json:"rows"`
}

// New returns the report of results.
func New(results []Result) *Report {
	f := Medians(results)
	return &Report{Benchmarks: f, Results: results, Rows: Rows(f)}
}

// Title is the line above the table: when, which commit, which machine.
func (r *Report) Title() string {
	m := r.Machine
	commit := r.Commit
	if r.Dirty {
		commit += " (work tree modified)"
	}
	return fmt.Sprintf("DynaLock benchmark, %s, commit %s\nMachine: %s, %d cores, %.0f GiB, %s (kernel %s), %s, %s, DynamoDB Local %s on loopback; load average %s before, %s after",
		r.Date, commit, m.CPU, m.Cores, m.MemoryGiB, m.OS, m.Kernel, m.Go, m.Java, m.DynamoDBLocal, m.LoadBefore, m.LoadAfter)
}

// Compare returns a Markdown table of the figures that old and cur share,
// with the change from old to cur.
func Compare(old, cur *Report) string {
	var names []string
	for name := range cur.Benchmarks {
		if _, ok := old.Benchmarks[name]; ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	fmt.Fprintf(&b, "old: %s %s\nnew: %s %s\n\n", old.Commit, old.Date, cur.Commit, cur.Date)
	b.WriteString("| Benchmark | Unit | Old | New | Change |\n|---|---|---|---|---|\n")
	for _, name := range names {
		var units []string
		for unit := range cur.Benchmarks[name] {
			if _, ok := old.Benchmarks[name][unit]; ok {
				units = append(units, unit)
			}
		}
		slices.Sort(units)
		for _, unit := range units {
			o, n := old.Benchmarks[name][unit], cur.Benchmarks[name][unit]
			change := "—"
			if o != 0 {
				change = fmt.Sprintf("%+.1f%%", (n-o)/math.Abs(o)*100)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", name, unit, sig(o), sig(n), change)
		}
	}
	return b.String()
}
