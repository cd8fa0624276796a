package report

import (
	"fmt"
	"strings"
)

// Targets of the benchmark (issue 7).
const (
	// TargetCycleRatio is DynaLock's least uncontended cycle rate as a
	// share of the floor's.
	TargetCycleRatio = 0.9
	// TargetRequests is the requests of an acquire, a release, an extend.
	TargetRequests = 1
	// TargetBatchRoundTrips is the most round trips of wall time for an
	// SQS batch of 10 records with distinct keys.
	TargetBatchRoundTrips = 2
)

// Row is one row of the table. Met is "✓", "✗", or empty where there is
// no target or a figure is missing.
type Row struct {
	Measure  string `json:"measure"`
	DynaLock string `json:"dynalock"`
	Floor    string `json:"floor"`
	Peer     string `json:"peer"`
	Target   string `json:"target"`
	Met      string `json:"met"`
}

// Header names the table's columns.
var Header = Row{
	Measure:  "Measure",
	DynaLock: "DynaLock",
	Floor:    "Floor (raw SDK) / baseline",
	Peer:     "cirello.io/dynamolock/v2",
	Target:   "Target",
	Met:      "Met",
}

const na = "n/a"

// table builds rows from figures, writing n/a for missing ones.
type table struct {
	f    Figures
	rows []Row
}

func (t *table) get(name, unit string) (float64, bool) { return t.f.Get(name, unit) }

func (t *table) add(r Row) { t.rows = append(t.rows, r) }

func met(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// Rows returns the table's rows for figures f.
func Rows(f Figures) []Row {
	t := &table{f: f}
	t.cycles()
	t.requests()
	t.handoff()
	t.batch()
	t.allocs()
	t.coldStart()
	return t.rows
}

func (t *table) cycles() {
	for _, n := range []int{1, 8, 32} {
		name := fmt.Sprintf("CycleRatio/conc=%d", n)
		r := Row{
			Measure: fmt.Sprintf("Uncontended acquire+release, cycles/s, %d worker%s (× floor)", n, plural(n)),
			Target:  fmt.Sprintf("≥ %.2f× floor", TargetCycleRatio),
		}
		r.Floor = t.num(name, "floor-cycles/s")
		r.DynaLock = t.numRatio(name, "dynalock-cycles/s", "dynalock/floor")
		r.Peer = t.numRatio(name, "peer-cycles/s", "peer/floor")
		if ratio, ok := t.get(name, "dynalock/floor"); ok {
			r.Met = met(ratio >= TargetCycleRatio)
		}
		t.add(r)
	}
}

func (t *table) requests() {
	ops := []struct{ op, what string }{
		{"acquire", "acquire"},
		{"release", "release"},
		{"extend", "extend"},
		{"contended", "contended attempt (lock held)"},
	}
	for _, o := range ops {
		r := Row{Measure: "Requests per " + o.what + " (p50 latency)"}
		r.DynaLock = t.reqs("Ops/impl=dynalock/op=" + o.op)
		r.Peer = t.reqs("Ops/impl=peer/op=" + o.op)
		r.Floor = "—"
		if o.op == "acquire" || o.op == "release" {
			r.Floor = t.reqs("Ops/impl=floor/op=" + o.op)
		}
		if o.op != "contended" {
			r.Target = fmt.Sprint(TargetRequests)
			if n, ok := t.get("Ops/impl=dynalock/op="+o.op, "req/op"); ok {
				r.Met = met(n <= TargetRequests)
			}
		}
		t.add(r)
	}
}

func (t *table) handoff() {
	r := Row{Measure: "Handoff under contention, release → next waiter's acquire, p50 / p99", Floor: "—"}
	r.DynaLock = t.p50p99("Handoff/impl=dynalock", "p50-ms", "p99-ms")
	r.Peer = t.p50p99("Handoff/impl=peer", "p50-ms", "p99-ms")
	p50, ok1 := t.get("Handoff/impl=dynalock", "p50-ms")
	step, ok2 := t.get("Handoff/impl=dynalock", "step-p50-ms")
	rtt, ok3 := t.get("Handoff/impl=dynalock", "rtt-p50-ms")
	if ok1 && ok2 && ok3 {
		r.Target = fmt.Sprintf("p50 ≤ wait step %s + RTT %s", msf(step), msf(rtt))
		r.Met = met(p50 <= step+rtt)
	} else {
		r.Target = "p50 ≤ wait step + RTT"
	}
	t.add(r)

	r = Row{Measure: "Takeover of a dead holder's lock, after its lease's end, p50 / max", Floor: "—"}
	r.DynaLock = t.p50p99("Takeover/impl=dynalock", "after-end-p50-ms", "after-end-max-ms")
	r.Peer = t.p50p99("Takeover/impl=peer", "after-end-p50-ms", "after-end-max-ms")
	if lease, ok := t.get("Takeover/impl=dynalock", "lease-ms"); ok {
		r.Measure += fmt.Sprintf(" (%s lease)", msf(lease))
	}
	r.Target = "— (DynaLock waits out its 1 s clock-skew tolerance)"
	t.add(r)
}

func (t *table) batch() {
	const local, slow = "SQSBatch/rtt=local/impl=", "SQSBatch/rtt=10ms/impl="
	r := Row{Measure: "SQS batch of 10 (distinct keys): round trips in sequence", Peer: "—",
		Target: fmt.Sprintf("≤ %d", TargetBatchRoundTrips)}
	r.DynaLock = t.num(slow+"dynalock", "round-trips")
	r.Floor = t.num(slow+"floor", "round-trips")
	if n, ok := t.get(slow+"dynalock", "round-trips"); ok {
		r.Met = met(n <= TargetBatchRoundTrips)
	}
	t.add(r)

	r = Row{Measure: "SQS batch of 10: wall time with 10 ms added per request (in round trips)", Peer: "—",
		Target: fmt.Sprintf("≤ %d round trips", TargetBatchRoundTrips)}
	one, okOne := t.get(slow+"request", "p50-ms")
	inRTT := func(impl string) (string, float64, bool) {
		v, ok := t.get(slow+impl, "p50-ms")
		if !ok || !okOne || one == 0 {
			return na, 0, false
		}
		return fmt.Sprintf("%s (%s RTT)", msf(v), sig(v/one)), v / one, true
	}
	var dl float64
	var ok bool
	r.DynaLock, dl, ok = inRTT("dynalock")
	r.Floor, _, _ = inRTT("floor")
	if okOne {
		r.Floor += fmt.Sprintf("; 1 request: %s", msf(one))
	}
	if ok {
		r.Met = met(dl <= TargetBatchRoundTrips)
	}
	t.add(r)

	r = Row{Measure: "SQS batch of 10 on loopback: lock wall time (batch − bare handler)", Peer: "—", Target: "—"}
	bare, okBare := t.get(local+"bare", "p50-ms")
	dlv, okDL := t.get(local+"dynalock", "p50-ms")
	fl, okFl := t.get(local+"floor", "p50-ms")
	r.DynaLock, r.Floor = na, na
	if okBare && okDL {
		r.DynaLock = msf(dlv - bare)
		if okFl && fl > 0 {
			r.DynaLock += fmt.Sprintf(" (%s× floor)", sig((dlv-bare)/fl))
		}
	}
	if okFl {
		r.Floor = msf(fl)
	}
	t.add(r)

	r = Row{Measure: "Middleware overhead per invocation over the bare handler (p50)", Peer: "—", Target: "—"}
	dis, okDis := t.get(local+"disabled", "p50-ms")
	r.DynaLock, r.Floor = na, na
	if okBare && okDL && okDis {
		r.DynaLock = fmt.Sprintf("+%s with locks; +%s with locks disabled", msf(dlv-bare), msf(dis-bare))
	}
	if okBare {
		r.Floor = "bare handler: " + msf(bare)
	}
	t.add(r)
}

func (t *table) allocs() {
	r := Row{Measure: "Allocations per acquire+release (B, allocs)", Target: "—"}
	floorB, okB := t.get("Cycle/conc=1/impl=floor", "B/op")
	floorA, okA := t.get("Cycle/conc=1/impl=floor", "allocs/op")
	r.Floor = t.allocStr("Cycle/conc=1/impl=floor")
	r.Peer = t.allocStr("Cycle/conc=1/impl=peer")
	r.DynaLock = t.allocStr("Cycle/conc=1/impl=dynalock")
	b, ok1 := t.get("Cycle/conc=1/impl=dynalock", "B/op")
	a, ok2 := t.get("Cycle/conc=1/impl=dynalock", "allocs/op")
	if ok1 && ok2 && okB && okA {
		r.DynaLock += fmt.Sprintf(" (floor %+.1f kB, %+.0f)", (b-floorB)/1e3, a-floorA)
	}
	t.add(r)

	r = Row{Measure: "Allocations per SQS batch of 10 (B, allocs)", Peer: "—", Target: "—"}
	r.DynaLock = t.allocStr("SQSBatch/rtt=local/impl=dynalock")
	r.Floor = t.allocStr("SQSBatch/rtt=local/impl=floor")
	t.add(r)
}

func (t *table) coldStart() {
	const cs = "ColdStart/fn="
	r := Row{Measure: "Cold start under the RIE: process start → first response, p50 (max); of which function init + first invocation", Peer: "—", Target: "—"}
	r.DynaLock = t.coldStartCell(cs + "wrapped")
	r.Floor = "bare " + t.coldStartCell(cs+"bare") + "; SDK client " + t.coldStartCell(cs+"sdk")
	t.add(r)

	r = Row{Measure: "Binary, linux/arm64 -trimpath -s -w (zipped)", Peer: "—", Target: "—"}
	r.DynaLock = t.size(cs + "wrapped")
	r.Floor = "bare " + t.size(cs+"bare") + "; SDK " + t.size(cs+"sdk")
	t.add(r)
}

func (t *table) num(name, unit string) string {
	if v, ok := t.get(name, unit); ok {
		return sig(v)
	}
	return na
}

func (t *table) numRatio(name, unit, ratio string) string {
	v, ok1 := t.get(name, unit)
	r, ok2 := t.get(name, ratio)
	if !ok1 || !ok2 {
		return na
	}
	return fmt.Sprintf("%s (%.2f×)", sig(v), r)
}

func (t *table) reqs(name string) string {
	n, ok1 := t.get(name, "req/op")
	p, ok2 := t.get(name, "p50-ms")
	if !ok1 || !ok2 {
		return na
	}
	return fmt.Sprintf("%s (%s)", sig(n), msf(p))
}

func (t *table) p50p99(name, u50, u99 string) string {
	a, ok1 := t.get(name, u50)
	b, ok2 := t.get(name, u99)
	if !ok1 || !ok2 {
		return na
	}
	return msf(a) + " / " + msf(b)
}

func (t *table) p50max(name string) string {
	a, ok1 := t.get(name, "p50-ms")
	b, ok2 := t.get(name, "max-ms")
	if !ok1 || !ok2 {
		return na
	}
	return fmt.Sprintf("%s (%s)", msf(a), msf(b))
}

func (t *table) coldStartCell(name string) string {
	s := t.p50max(name)
	i, ok1 := t.get(name, "init-p50-ms")
	v, ok2 := t.get(name, "invoke-p50-ms")
	if ok1 && ok2 {
		s += fmt.Sprintf("; %s + %s", msf(i), msf(v))
	}
	return s
}

func (t *table) allocStr(name string) string {
	b, ok1 := t.get(name, "B/op")
	a, ok2 := t.get(name, "allocs/op")
	if !ok1 || !ok2 {
		return na
	}
	return fmt.Sprintf("%.1f kB, %.0f", b/1e3, a)
}

func (t *table) size(name string) string {
	b, ok1 := t.get(name, "bin-bytes")
	z, ok2 := t.get(name, "zip-bytes")
	if !ok1 || !ok2 {
		return na
	}
	return fmt.Sprintf("%.1f MB (%.1f MB)", b/1e6, z/1e6)
}

// sig formats v with about three significant digits.
func sig(v float64) string {
	switch a := abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1 || a == 0:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	}
	return fmt.Sprintf("%.3g", v)
}

// msf formats a duration given in milliseconds.
func msf(v float64) string {
	if abs(v) < 1 {
		return sig(v*1000) + " µs"
	}
	return sig(v) + " ms"
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Markdown renders rows under Header as a Markdown table with aligned
// columns.
func Markdown(rows []Row) string {
	all := append([]Row{Header}, rows...)
	cells := make([][]string, len(all))
	widths := make([]int, 6)
	for i, r := range all {
		cells[i] = []string{r.Measure, r.DynaLock, r.Floor, r.Peer, r.Target, r.Met}
		for j, c := range cells[i] {
			widths[j] = max(widths[j], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(cs []string) {
		b.WriteString("|")
		for j, c := range cs {
			b.WriteString(" " + c + strings.Repeat(" ", widths[j]-len([]rune(c))) + " |")
		}
		b.WriteString("\n")
	}
	line(cells[0])
	sep := make([]string, 6)
	for j := range sep {
		sep[j] = strings.Repeat("-", widths[j])
	}
	line(sep)
	for _, cs := range cells[1:] {
		line(cs)
	}
	return b.String()
}
