package report

import (
	"fmt"
	"strings"
)

// Targets of the benchmark (issues 7 and 16).
const (
	// TargetMinimalRatio is DynaLock's least uncontended cycle rate on
	// loopback as a share of the minimal design's.
	TargetMinimalRatio = 0.95
	// TargetPeerRatio is DynaLock's least sequential (1 worker) cycle rate
	// on loopback as a multiple of the peer's.
	TargetPeerRatio = 1.3
	// TargetLatencyMinimalRatio and TargetLatencyPeerRatio are the same
	// with latency added to every request, where the requests in sequence
	// decide: the peer's acquire has two.
	TargetLatencyMinimalRatio = 0.98
	TargetLatencyPeerRatio    = 1.45
	// TargetRequests is the requests of an acquire, a release, an extend.
	TargetRequests = 1
	// TargetWCU is the write units of an acquire, a release, an extend.
	TargetWCU = 1
	// TargetItemBytes bounds the lock item with typical holder details.
	TargetItemBytes = 1024
	// TargetAddedInitMs and TargetAddedInvokeMs bound what DynaLock adds to
	// a cold start beyond a function sending the same requests itself.
	TargetAddedInitMs   = 2
	TargetAddedInvokeMs = 1
	// TargetBatchRoundTrips is the most round trips of wall time for an
	// SQS batch of 10 records with distinct keys.
	TargetBatchRoundTrips = 2
	// TargetBackoffAddedMs bounds what WithVisibilityBackoff adds to a
	// batch with held records and others to release, at 10 ms per
	// request: half a round trip, i.e. nothing beyond noise (issue 13).
	TargetBackoffAddedMs = 5
)

// Prices assumed for the cost rows: on-demand request units in US
// dollars per million, DynamoDB Standard table class, us-east-1, as
// listed since the price cut of November 2024. An assumption: prices
// differ by region and change; the units beside them do not.
const (
	PriceWRU = 0.625
	PriceRRU = 0.125

	// TargetHandoffP50 is the handoff's median under the bench's
	// contention, and TargetTakeoverWatching a watching waiter's takeover
	// after a dead holder's lease end, in milliseconds (issue 22).
	TargetHandoffP50       = 50
	TargetTakeoverWatching = 50
)

// Row is one row of the table. Met is "✓", "✗", or empty where there is
// no target or a figure is missing.
type Row struct {
	Measure  string `json:"measure"`
	DynaLock string `json:"dynalock"`
	Floor    string `json:"floor"`
	Minimal  string `json:"minimal"`
	Peer     string `json:"peer"`
	Target   string `json:"target"`
	Met      string `json:"met"`
}

// Header names the table's columns.
var Header = Row{
	Measure:  "Measure",
	DynaLock: "DynaLock",
	Floor:    "Replay floor (its requests, raw SDK) / baseline",
	Minimal:  "Minimal design (raw SDK)",
	Peer:     "cirello.io/dynamolock/v2",
	Target:   "Target",
	Met:      "Met",
}

const (
	na   = "n/a"
	none = "—"
)

// table builds rows from figures, writing n/a for missing ones.
type table struct {
	f    Figures
	rows []Row
}

func (t *table) get(name, unit string) (float64, bool) { return t.f.Get(name, unit) }

func (t *table) add(r Row) {
	for _, c := range []*string{&r.DynaLock, &r.Floor, &r.Minimal, &r.Peer, &r.Target} {
		if *c == "" {
			*c = none
		}
	}
	t.rows = append(t.rows, r)
}

func met(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// metAll is "✓" when every check passed, "✗" when one failed, "" when
// there is none.
func metAll(checks ...bool) string {
	if len(checks) == 0 {
		return ""
	}
	for _, ok := range checks {
		if !ok {
			return "✗"
		}
	}
	return "✓"
}

// Rows returns the table's rows for figures f.
func Rows(f Figures) []Row {
	t := &table{f: f}
	t.cycles("CycleRatio/", "on loopback", TargetMinimalRatio, TargetPeerRatio)
	for _, d := range []string{"2ms", "5ms"} {
		t.cycles("CycleLatency/delay="+d+"/", "+"+strings.TrimSuffix(d, "ms")+" ms per request", TargetLatencyMinimalRatio, TargetLatencyPeerRatio)
	}
	t.criticalSection()
	t.requests()
	t.capacity()
	t.permits()
	t.costs()
	t.trims()
	t.handoff()
	t.batch()
	t.backoff()
	t.allocs()
	t.coldStart()
	return t.rows
}

// cycles adds the uncontended cycle rows of the benchmark under prefix.
func (t *table) cycles(prefix, where string, minTarget, peerTarget float64) {
	for _, n := range []int{1, 8, 32} {
		name := fmt.Sprintf("%sconc=%d", prefix, n)
		r := Row{Measure: fmt.Sprintf("Uncontended acquire+release, cycles/s, %s, %d worker%s (× minimal; × peer)", where, n, plural(n))}
		r.Target = fmt.Sprintf("≥ %.2f× minimal", minTarget)
		if n == 1 {
			r.Target += "; ≥ " + sig(peerTarget) + "× peer"
		}
		rate, ok1 := t.get(name, "dynalock-cycles/s")
		toMin, ok2 := t.get(name, "dynalock/minimal")
		toPeer, ok3 := t.get(name, "dynalock/peer")
		toFloor, ok4 := t.get(name, "dynalock/floor")
		r.DynaLock = na
		if ok1 && ok2 && ok3 && ok4 {
			r.DynaLock = fmt.Sprintf("%s (%.2f×; %.2f× peer; %.2f× replay)", sig(rate), toMin, toPeer, toFloor)
		}
		r.Floor = t.numRatio(name, "floor-cycles/s", "floor/minimal")
		r.Minimal = t.num(name, "minimal-cycles/s")
		r.Peer = t.numRatio(name, "peer-cycles/s", "peer/minimal")
		var checks []bool
		if ok2 {
			checks = append(checks, toMin >= minTarget)
		}
		if n == 1 && ok3 {
			checks = append(checks, toPeer >= peerTarget)
		}
		if ok2 && (n != 1 || ok3) {
			r.Met = metAll(checks...)
		}
		t.add(r)
	}
}

func (t *table) criticalSection() {
	for _, d := range []string{"0ms", "5ms"} {
		name := "CriticalSection/delay=" + d
		where := "on loopback"
		if d != "0ms" {
			where = "+" + strings.TrimSuffix(d, "ms") + " ms per request"
		}
		r := Row{Measure: "Critical section with one application write, sections/s, 1 worker, " + where + " (requests)", Floor: none, Minimal: none}
		fenced, ok1 := t.get(name, "fenced-cycles/s")
		write, ok2 := t.get(name, "write-cycles/s")
		wf, ok3 := t.get(name, "write/fenced")
		wp, ok4 := t.get(name, "write/peer")
		fp, ok5 := t.get(name, "fenced/peer")
		r.DynaLock = na
		if ok1 && ok2 && ok3 && ok4 && ok5 {
			r.DynaLock = fmt.Sprintf("token-fenced write: %s (%s; %.2f× peer); Lease.Complete: %s (%s; %.2f× fenced, %.2f× peer)",
				sig(fenced), t.reqCount(name, "fenced-req/op"), fp, sig(write), t.reqCount(name, "write-req/op"), wf, wp)
		}
		if v, ok := t.get(name, "peer-cycles/s"); ok {
			r.Peer = fmt.Sprintf("%s (%s)", sig(v), t.reqCount(name, "peer-req/op"))
		} else {
			r.Peer = na
		}
		t.add(r)
	}
}

func (t *table) reqCount(name, unit string) string {
	if v, ok := t.get(name, unit); ok {
		return sig(v) + " req"
	}
	return "? req"
}

func (t *table) requests() {
	ops := []struct{ op, what string }{
		{"acquire", "acquire"},
		{"release", "release"},
		{"extend", "extend"},
		{"contended", "contended attempt (lock held)"},
		{"app-write", "token-fenced application write (UpdateItem)"},
		{"write-release", "Lease.Complete with one item (TransactWriteItems)"},
	}
	for _, o := range ops {
		r := Row{Measure: "Requests per " + o.what + " (p50 latency, loopback)"}
		r.DynaLock = t.reqs("Ops/impl=dynalock/op=" + o.op)
		switch o.op {
		case "acquire", "release":
			r.Floor = t.reqs("Ops/impl=floor/op=" + o.op)
			r.Minimal = t.reqs("Ops/impl=minimal/op=" + o.op)
		}
		switch o.op {
		case "acquire", "release", "extend", "contended":
			r.Peer = t.reqs("Ops/impl=peer/op=" + o.op)
		}
		switch o.op {
		case "acquire", "release", "extend":
			r.Target = fmt.Sprint(TargetRequests)
			if n, ok := t.get("Ops/impl=dynalock/op="+o.op, "req/op"); ok {
				r.Met = met(n <= TargetRequests)
			}
		}
		t.add(r)
	}
}

// units formats an operation's capacity: write and read units, computed
// ones marked.
func (t *table) units(name, op string) string {
	w, ok1 := t.get(name, op+"-wcu")
	rd, ok2 := t.get(name, op+"-rcu")
	cw, computed := t.get(name, op+"-computed-wcu")
	if !ok1 || !ok2 {
		return na
	}
	var parts []string
	if w > 0 {
		parts = append(parts, sig(w)+" WRU")
	}
	if computed {
		parts = append(parts, sig(cw)+" WRU (computed)")
	}
	if rd > 0 {
		parts = append(parts, sig(rd)+" RRU")
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, " + ")
}

func (t *table) capacity() {
	const c = "Capacity/impl="
	ops := []struct{ op, what string }{
		{"acquire", "acquire"},
		{"release", "release"},
		{"extend", "extend"},
		{"contended", "contended attempt"},
		{"force-release", "operator's force-release"},
		{"write-release", "Lease.Complete with one item"},
	}
	for _, o := range ops {
		r := Row{Measure: "Capacity per " + o.what + " (request units)"}
		r.DynaLock = t.units(c+"dynalock", o.op)
		switch o.op {
		case "acquire", "release":
			r.Floor = t.units(c+"floor", o.op)
			r.Minimal = t.units(c+"minimal", o.op)
		}
		switch o.op {
		case "acquire", "release", "extend", "contended":
			r.Peer = t.units(c+"peer", o.op)
		}
		switch o.op {
		case "acquire", "release", "extend":
			r.Target = fmt.Sprintf("%d WRU", TargetWCU)
			w, ok1 := t.get(c+"dynalock", o.op+"-wcu")
			rd, ok2 := t.get(c+"dynalock", o.op+"-rcu")
			if ok1 && ok2 {
				r.Met = met(w <= TargetWCU && rd == 0)
			}
		case "write-release":
			r.Target = "— (2 per item in a transaction)"
		}
		t.add(r)
	}

	r := Row{Measure: "Lock item with typical holder details, largest (bytes)", Floor: "as DynaLock"}
	r.DynaLock = t.bytes(c+"dynalock", "item-bytes")
	r.Minimal = t.bytes(c+"minimal", "item-bytes")
	r.Peer = t.bytes(c+"peer", "item-bytes")
	r.Target = fmt.Sprintf("< %d", TargetItemBytes)
	if v, ok := t.get(c+"dynalock", "item-bytes"); ok {
		r.Met = met(v < TargetItemBytes)
	}
	t.add(r)
}

func (t *table) bytes(name, unit string) string {
	if v, ok := t.get(name, unit); ok {
		return fmt.Sprintf("%.0f", v)
	}
	return na
}

// cycleCost returns the write and read units of one uncontended acquire +
// release of impl.
func (t *table) cycleCost(impl string) (w, r float64, ok bool) {
	name := "Capacity/impl=" + impl
	for _, op := range []string{"acquire", "release"} {
		ow, ok1 := t.get(name, op+"-wcu")
		or, ok2 := t.get(name, op+"-rcu")
		if !ok1 || !ok2 {
			return 0, 0, false
		}
		w, r = w+ow, r+or
	}
	return w, r, true
}

func dollars(w, r float64) string {
	return fmt.Sprintf("$%.3f", w*PriceWRU+r*PriceRRU)
}

func (t *table) costs() {
	r := Row{Measure: fmt.Sprintf("A million uncontended cycles, on-demand (assumed $%.3f per million WRU, $%.3f per million RRU: us-east-1, Standard class)", PriceWRU, PriceRRU)}
	cell := func(impl string) string {
		w, rd, ok := t.cycleCost(impl)
		if !ok {
			return na
		}
		s := fmt.Sprintf("%s (%s M WRU", dollars(w, rd), sig(w))
		if rd > 0 {
			s += fmt.Sprintf(" + %s M RRU", sig(rd))
		}
		return s + ")"
	}
	r.DynaLock, r.Floor, r.Minimal, r.Peer = cell("dynalock"), cell("floor"), cell("minimal"), cell("peer")
	r.Target = "0 RRU per cycle"
	if _, rd, ok := t.cycleCost("dynalock"); ok {
		r.Met = met(rd == 0)
	}
	t.add(r)

	r = Row{Measure: "A waiter-minute of contention (lock held throughout): requests, units, on-demand cost", Floor: none, Minimal: none}
	cost := func(impl string) (float64, bool) {
		w, ok1 := t.get("Waiters", impl+"-wcu/min")
		rd, ok2 := t.get("Waiters", impl+"-rcu/min")
		return w*PriceWRU + rd*PriceRRU, ok1 && ok2
	}
	waiter := func(impl string) string {
		n, ok1 := t.get("Waiters", impl+"-requests/min")
		w, ok2 := t.get("Waiters", impl+"-wcu/min")
		rd, ok3 := t.get("Waiters", impl+"-rcu/min")
		if !ok1 || !ok2 || !ok3 {
			return na
		}
		var units []string
		if w > 0 {
			units = append(units, sig(w)+" WRU")
		}
		if rd > 0 {
			units = append(units, sig(rd)+" RRU")
		}
		return fmt.Sprintf("%s requests, %s; $%s per million waiter-minutes", sig(n), strings.Join(units, " + "), sig(w*PriceWRU+rd*PriceRRU))
	}
	r.DynaLock = waiter("dynalock") + " (eventually consistent GetItems between writes)"
	r.Peer = waiter("peer") + " (consistent GetItems)"
	r.Target = "≤ the peer's cost"
	if d, ok1 := cost("dynalock"); ok1 {
		if p, ok2 := cost("peer"); ok2 {
			r.Met = met(d <= p)
		}
	}
	t.add(r)
	for _, alt := range []struct{ impl, what string }{
		{"consistent", "consistent GetItems between writes"},
		{"writes", "no reads: a failed conditional write at every step, as before issue 22"},
	} {
		r = Row{Measure: "A waiter-minute, DynaLock's alternative: " + alt.what, Floor: none, Minimal: none, Peer: none, Target: "—"}
		r.DynaLock = waiter(alt.impl)
		t.add(r)
	}

	r = Row{Measure: "The holder's extend while 8 waiters wait, p50: alone / default waiters / consistent reads / writes only", Floor: none, Minimal: none, Peer: none}
	var cells []string
	alone, okAlone := t.get("Waiters", "holder-extend-alone-p50-ms")
	worst := 0.0
	for _, k := range []string{"alone", "dynalock", "consistent", "writes"} {
		v, ok := t.get("Waiters", "holder-extend-"+k+"-p50-ms")
		if !ok {
			cells = append(cells, na)
			continue
		}
		cells = append(cells, msf(v))
		if k == "dynalock" {
			worst = v
		}
	}
	r.DynaLock = strings.Join(cells, " / ")
	r.Target = "default waiters ≤ alone + 0.2 ms"
	if okAlone && worst > 0 {
		r.Met = met(worst <= alone+0.2)
	}
	t.add(r)

	r = Row{Measure: "Capacity of a critical section with one application write (acquire, write, release)", Floor: none, Minimal: none}
	app, okApp := t.get("Capacity/impl=dynalock", "app-write-wcu")
	aw, okAcq := t.get("Capacity/impl=dynalock", "acquire-wcu")
	ww, okWrite := t.get("Capacity/impl=dynalock", "write-release-wcu")
	r.DynaLock, r.Peer = na, na
	if w, rd, ok := t.cycleCost("dynalock"); ok && okApp && okAcq && okWrite {
		r.DynaLock = fmt.Sprintf("token-fenced: %s WRU", sig(w+app))
		if rd > 0 {
			r.DynaLock += fmt.Sprintf(" + %s RRU", sig(rd))
		}
		r.DynaLock += fmt.Sprintf("; Lease.Complete: %s WRU", sig(aw+ww))
	}
	if w, rd, ok := t.cycleCost("peer"); ok && okApp {
		r.Peer = fmt.Sprintf("%s WRU + %s RRU", sig(w+app), sig(rd))
	}
	t.add(r)
}

// trimDescriptions say what each of BenchmarkTrim's changes drops.
var trimDescriptions = []struct{ name, desc string }{
	{"updated-new", "acquire answers UPDATED_NEW, not ALL_NEW"},
	{"no-remove", "no REMOVE clauses in acquire and release"},
	{"four-attrs", "acquire sets only lease, owner, token, end"},
	{"no-version", "acquire without the lease version (LeaseVersion, LeaseMs)"},
	{"short-condition", "acquire condition of three terms"},
	{"all-trims", "all four"},
	{"minimal", "the minimal design instead"},
	{"minimal-on-lock-item", "the minimal design on an item holding DynaLock's attributes"},
}

func (t *table) trims() {
	for _, d := range trimDescriptions {
		r := Row{Measure: "What-if, DynaLock's requests with " + d.desc + ": cycles/s × replay floor, 1 / 32 workers", DynaLock: none, Minimal: none, Peer: none}
		a, ok1 := t.get("Trim/conc=1", d.name+"/floor")
		b, ok2 := t.get("Trim/conc=32", d.name+"/floor")
		if ok1 && ok2 {
			r.Floor = fmt.Sprintf("%.2f× / %.2f×", a, b)
		} else {
			r.Floor = na
		}
		t.add(r)
	}
}

func (t *table) handoff() {
	r := Row{Measure: "Handoff under contention, release → next waiter's acquire, p50 / p99"}
	r.DynaLock = t.p50p99("Handoff/impl=dynalock", "p50-ms", "p99-ms")
	r.Peer = t.p50p99("Handoff/impl=peer", "p50-ms", "p99-ms")
	r.Target = fmt.Sprintf("p50 ≤ %s", msf(TargetHandoffP50))
	if p50, ok := t.get("Handoff/impl=dynalock", "p50-ms"); ok {
		r.Met = met(p50 <= TargetHandoffP50)
	}
	if step, ok := t.get("Handoff/impl=dynalock", "step-p50-ms"); ok {
		r.Target += fmt.Sprintf(" (DynaLock's wait step at the release, p50: %s)", msf(step))
	}
	t.add(r)

	r = Row{Measure: "Handoff under contention, DynaLock's alternative without reads (a write at every step), p50 / p99", Floor: none, Minimal: none, Peer: none, Target: "—"}
	r.DynaLock = t.p50p99("Handoff/impl=writes", "p50-ms", "p99-ms")
	t.add(r)

	r = Row{Measure: "Takeover of a dead holder's lock, after its lease's end, p50 / max"}
	r.DynaLock = t.p50p99("Takeover/impl=dynalock", "after-end-p50-ms", "after-end-max-ms")
	r.Peer = t.p50p99("Takeover/impl=peer", "after-end-p50-ms", "after-end-max-ms")
	if lease, ok := t.get("Takeover/impl=dynalock", "lease-ms"); ok {
		r.Measure += fmt.Sprintf(" (%s lease)", msf(lease))
	}
	r.Target = fmt.Sprintf("p50 ≤ %s (observed-lease rule)", msf(TargetTakeoverWatching))
	if v, ok := t.get("Takeover/impl=dynalock", "after-end-p50-ms"); ok {
		r.Met = met(v <= TargetTakeoverWatching)
	}
	t.add(r)

	r = Row{Measure: "Takeover, waiter arriving at 75 % of the lease: after the lease's end, p50 / max"}
	r.DynaLock = t.p50p99("Takeover/impl=dynalock/arrive=75%", "after-end-p50-ms", "after-end-max-ms")
	r.Peer = t.p50p99("Takeover/impl=peer/arrive=75%", "after-end-p50-ms", "after-end-max-ms")
	r.Target = "p50 ≤ 1 s tolerance + 10 ms (wall-clock rule; the peer watches a whole lease from its first look)"
	if v, ok := t.get("Takeover/impl=dynalock/arrive=75%", "after-end-p50-ms"); ok {
		r.Met = met(v <= 1010)
	}
	t.add(r)
}

func (t *table) batch() {
	const local, slow = "SQSBatch/rtt=local/impl=", "SQSBatch/rtt=10ms/impl="
	r := Row{Measure: "SQS batch of 10 (distinct keys): round trips in sequence",
		Target: fmt.Sprintf("≤ %d", TargetBatchRoundTrips)}
	r.DynaLock = t.num(slow+"dynalock", "round-trips")
	r.Floor = t.num(slow+"floor", "round-trips")
	if n, ok := t.get(slow+"dynalock", "round-trips"); ok {
		r.Met = met(n <= TargetBatchRoundTrips)
	}
	t.add(r)

	r = Row{Measure: "SQS batch of 10: wall time with 10 ms added per request (in round trips)",
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

	r = Row{Measure: "SQS batch of 10 on loopback: lock wall time (batch − bare handler)"}
	bare, okBare := t.get(local+"bare", "p50-ms")
	dlv, okDL := t.get(local+"dynalock", "p50-ms")
	fl, okFl := t.get(local+"floor", "p50-ms")
	r.DynaLock, r.Floor = na, na
	if okBare && okDL {
		r.DynaLock = msf(dlv - bare)
		if okFl && fl > 0 {
			r.DynaLock += fmt.Sprintf(" (%s× replay floor)", sig((dlv-bare)/fl))
		}
	}
	if okFl {
		r.Floor = msf(fl)
	}
	t.add(r)

	r = Row{Measure: "Middleware overhead per invocation over the bare handler (p50)"}
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

// backoff adds the row of BenchmarkSQSBackoff (issue 13): what
// WithVisibilityBackoff adds to a batch's wall time at 10 ms per request.
func (t *table) backoff() {
	const name = "SQSBackoff/rtt=10ms/held="
	r := Row{Measure: "SQS batch of 10, 5 held elsewhere, 10 ms per request: wall time added by WithVisibilityBackoff (p50)",
		Target: fmt.Sprintf("none beyond noise (≤ %s)", msf(TargetBackoffAddedMs))}
	off, ok1 := t.get(name+"5/backoff=off", "p50-ms")
	on, ok2 := t.get(name+"5/backoff=on", "p50-ms")
	r.DynaLock, r.Floor = na, na
	if ok1 && ok2 {
		r.DynaLock = fmt.Sprintf("%+.1f ms (%s off, %s on)", on-off, msf(off), msf(on))
		r.Met = met(on-off <= TargetBackoffAddedMs)
	}
	if off10, ok := t.get(name+"10/backoff=off", "p50-ms"); ok {
		if on10, ok := t.get(name+"10/backoff=on", "p50-ms"); ok {
			r.Floor = fmt.Sprintf("all 10 held (no release to hide the request behind): %+.1f ms", on10-off10)
		}
	}
	t.add(r)
}

func (t *table) allocs() {
	r := Row{Measure: "Allocations per acquire+release (B, allocs)"}
	floorB, okB := t.get("Cycle/conc=1/impl=floor", "B/op")
	floorA, okA := t.get("Cycle/conc=1/impl=floor", "allocs/op")
	r.Floor = t.allocStr("Cycle/conc=1/impl=floor")
	r.Minimal = t.allocStr("Cycle/conc=1/impl=minimal")
	r.Peer = t.allocStr("Cycle/conc=1/impl=peer")
	r.DynaLock = t.allocStr("Cycle/conc=1/impl=dynalock")
	b, ok1 := t.get("Cycle/conc=1/impl=dynalock", "B/op")
	a, ok2 := t.get("Cycle/conc=1/impl=dynalock", "allocs/op")
	if ok1 && ok2 && okB && okA {
		r.DynaLock += fmt.Sprintf(" (replay %+.1f kB, %+.0f)", (b-floorB)/1e3, a-floorA)
	}
	t.add(r)

	r = Row{Measure: "Allocations per SQS batch of 10 (B, allocs)"}
	r.DynaLock = t.allocStr("SQSBatch/rtt=local/impl=dynalock")
	r.Floor = t.allocStr("SQSBatch/rtt=local/impl=floor")
	t.add(r)
}

func (t *table) coldStart() {
	const cs = "ColdStart"
	r := Row{Measure: "Cold start under the RIE: process start → first response, p50 (max); of which function init + first invocation (p50s)"}
	r.DynaLock = "wrapped: " + t.coldStartCell("wrapped") + "; lock package alone (lockonly): " + t.coldStartCell("lockonly")
	r.Floor = "bare " + t.coldStartCell("bare") + "; SDK client " + t.coldStartCell("sdk") +
		"; SDK + DynaLock's two UpdateItems by hand (sdkwrites) " + t.coldStartCell("sdkwrites")
	t.add(r)

	r = Row{Measure: "What DynaLock adds to a cold start beyond sdkwrites (median of paired differences): init / first invocation / total"}
	i, ok1 := t.get(cs, "added-init-p50-ms")
	v, ok2 := t.get(cs, "added-invoke-p50-ms")
	tot, ok3 := t.get(cs, "added-p50-ms")
	r.DynaLock = na
	if ok1 && ok2 && ok3 {
		r.DynaLock = fmt.Sprintf("%s / %s / %s", signedMs(i), signedMs(v), signedMs(tot))
		r.Met = met(i <= TargetAddedInitMs && v <= TargetAddedInvokeMs)
	}
	r.Target = fmt.Sprintf("≤ %d ms / ≤ %d ms", TargetAddedInitMs, TargetAddedInvokeMs)
	if li, ok1 := t.get(cs, "lock-added-init-p50-ms"); ok1 {
		if lv, ok2 := t.get(cs, "lock-added-invoke-p50-ms"); ok2 {
			r.Floor = fmt.Sprintf("of which the lock package alone (lockonly − sdkwrites): %s / %s", signedMs(li), signedMs(lv))
		}
	}
	t.add(r)

	r = Row{Measure: "Binary, linux/arm64 -trimpath -s -w (zipped)"}
	r.DynaLock = "wrapped " + t.size("wrapped") + "; lockonly " + t.size("lockonly")
	r.Floor = "bare " + t.size("bare") + "; SDK " + t.size("sdk") + "; sdkwrites " + t.size("sdkwrites")
	t.add(r)
}

func signedMs(v float64) string {
	s := msf(v)
	if v >= 0 {
		s = "+" + s
	}
	return s
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

func (t *table) coldStartCell(fn string) string {
	const cs = "ColdStart"
	a, ok1 := t.get(cs, fn+"-p50-ms")
	b, ok2 := t.get(cs, fn+"-max-ms")
	if !ok1 || !ok2 {
		return na
	}
	s := fmt.Sprintf("%s (%s)", msf(a), msf(b))
	i, ok1 := t.get(cs, fn+"-init-p50-ms")
	v, ok2 := t.get(cs, fn+"-invoke-p50-ms")
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

func (t *table) size(fn string) string {
	b, ok1 := t.get("ColdStart", fn+"-bin-bytes")
	z, ok2 := t.get("ColdStart", fn+"-zip-bytes")
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
	const cols = 7
	widths := make([]int, cols)
	for i, r := range all {
		cells[i] = []string{r.Measure, r.DynaLock, r.Floor, r.Minimal, r.Peer, r.Target, r.Met}
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
	sep := make([]string, cols)
	for j := range sep {
		sep[j] = strings.Repeat("-", widths[j])
	}
	line(sep)
	for _, cs := range cells[1:] {
		line(cs)
	}
	return b.String()
}
