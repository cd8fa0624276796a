package demo

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/examples/shop/rollup"
	"github.com/dynalock/dynalock/lock"
)

// sampleReport returns the report of a run where every promise held: one
// SKU and one account, each event taken once, a crash freed on time.
func sampleReport() *Report {
	sku := func(orders ...string) SKUState {
		return SKUState{SKU: "MUG", Orders: len(orders), Ordered: int64(len(orders)), Recorded: len(orders),
			Reserved: int64(len(orders)), Available: InitialStock - int64(len(orders)), RecordedUnits: int64(len(orders))}
	}
	state := func() State {
		acc := AccountState{Account: "42", Transactions: 1, Applied: 1, Expected: OpeningBalance + 100, Balance: OpeningBalance + 100, AppliedAmount: 100}
		return State{SKUs: []SKUState{sku("o-1", "o-2")}, Accounts: []AccountState{acc}}
	}
	metrics := map[string]MetricCounts{}
	locked := &Phase{Locked: true, State: state(), Metrics: metrics, Final: rollup.Summary{Total: OpeningBalance + 100, Accounts: 1},
		Stock: SQSResult{Records: 2}, Transfers: HTTPResult{Requests: 1, Final: map[int]int{200: 1}}}
	unlocked := &Phase{State: state(), Metrics: metrics}
	dup := &Duplicates{Idempotent: true, State: state(), Answered: map[string]int64{ReserveStock: 1, AccountEvents: 1}, SameAnswers: 1, AccountAnswers: 1}
	r := &Report{Instances: 4, LogDir: ".demo/logs", Locked: locked, Unlocked: unlocked,
		Unprocessed: Unprocessed{Orders: map[string]bool{}, Transactions: map[string]bool{}},
		Crash:       CrashResult{LockID: "sku/MUG", Holder: lock.Holder{Token: 1}, LeaseLeft: 3 * time.Second, FreedAfter: 5 * time.Second},
		Alerts:      AlertsResult{Threshold: 1, Stream: StreamResult{Records: 2}},
		Backoff:     BackoffRun{Pair: true, Queue: StackQueue(), State: State{SKUs: []SKUState{sku("b-1")}}, WithState: State{SKUs: []SKUState{sku("b-2")}}},
		Duplicates:  dup, DuplicatesOff: dup, HeldAt: time.Now(), LoadStart: "1.00", LoadEnd: "2.00",
		Tenants: sampleTenants()}
	return r
}

// headings returns a report's section headings: its lines that open a
// numbered section or the checks.
func headings(lines []string) []string {
	var out []string
	re := regexp.MustCompile(`^([0-9]+\. |Checks: )`)
	for _, l := range lines {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// docs/DEMO.md shows a sample of the report: its section headings are the
// report's, in the same order, so that a reader finds in the docs what
// the demo prints.
func TestDocsSampleHasTheReportsHeadings(t *testing.T) {
	var b strings.Builder
	r := sampleReport()
	r.check()
	r.Print(&b)
	got := headings(strings.Split(b.String(), "\n"))
	if len(got) != 8 {
		t.Fatalf("the report has %d section headings, want 8:\n%s", len(got), b.String())
	}

	f, err := os.Open("../../docs/DEMO.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sample []string
	in, seen := false, false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		switch {
		case !seen && line == "```text":
			in, seen = true, true
		case in && line == "```":
			in = false
		case in:
			sample = append(sample, line)
		}
	}
	if !seen {
		t.Fatal("docs/DEMO.md has no ```text block: the sample report")
	}
	if want := headings(sample); !slices.Equal(got, want) {
		t.Errorf("docs/DEMO.md's sample report has the headings\n\t%s\nthe demo prints\n\t%s", strings.Join(want, "\n\t"), strings.Join(got, "\n\t"))
	}
	if !slices.ContainsFunc(sample, func(l string) bool { return strings.HasPrefix(l, "PASS: ") }) {
		t.Error("docs/DEMO.md's sample report has no PASS: line")
	}
}

// The checks judge promises: what the machine's speed decides (releases
// past their budget, events never acknowledged, retries) is a figure, and
// only a broken promise fails the run.
func TestChecksJudgePromisesOnly(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *Report)
		want   bool
	}{
		{"every promise held", func(r *Report) {}, true},
		{"releases past their budget", func(r *Report) {
			r.Locked.Metrics = map[string]MetricCounts{ReserveStock: {ReleaseFailures: 3}}
		}, true},
		{"a lock still held within its lease", func(r *Report) {
			r.Held = []admin.Record{{LockID: "sku/MUG", Holder: lock.Holder{ExpiresAt: r.HeldAt.Add(2 * time.Second)}}}
		}, true},
		{"a dead-lettered order not taken", func(r *Report) {
			s := &r.Locked.State.SKUs[0]
			s.Orders, s.Missing = 3, []string{"o-3"}
			r.Unprocessed.Orders["o-3"], r.Unprocessed.DeadLettered = true, 1
		}, true},
		{"retries, 409s, rollup runs that failed", func(r *Report) {
			r.Locked.Accounts.Retried, r.Locked.Transfers.Conflicts, r.Locked.RollupFailed = 4, 9, 1
		}, true},
		{"an acknowledged order not taken", func(r *Report) {
			s := &r.Locked.State.SKUs[0]
			s.Orders, s.Missing = 3, []string{"o-3"}
		}, false},
		{"a lost update", func(r *Report) { r.Locked.State.SKUs[0].Reserved-- }, false},
		{"a transaction applied twice", func(r *Report) { r.Locked.State.Accounts[0].Balance += 100 }, false},
		{"overlapping rollup runs", func(r *Report) { r.Locked.RollupOverlapped = 1 }, false},
		{"a crashed holder's lock taken before its lease ended", func(r *Report) { r.Crash.FreedAfter = time.Second }, false},
		{"a lock held beyond any lease", func(r *Report) {
			r.Held = []admin.Record{{LockID: "sku/MUG", Holder: lock.Holder{ExpiresAt: r.HeldAt.Add(time.Hour)}}}
		}, false},
		{"a double effect without the backoff", func(r *Report) { r.Backoff.State.SKUs[0].Reserved++ }, false},
		{"a dead-lettered export not recorded", func(r *Report) {
			r.Tenants.Exports = r.Tenants.Exports[1:]
			r.Tenants.Dead[r.Tenants.Sent[0].Tenant+"#e-1"] = true
		}, true},
		{"more exports of one tenant at once than its permits", func(r *Report) {
			for i := range r.Tenants.Exports {
				r.Tenants.Exports[i].Started = r.Tenants.Sent0
			}
		}, false},
		{"an export run twice", func(r *Report) { r.Tenants.Exports[0].Runs = 2 }, false},
		{"an acknowledged export not recorded", func(r *Report) { r.Tenants.Exports = r.Tenants.Exports[1:] }, false},
		{"a double effect despite idempotency", func(r *Report) {
			d := *r.Duplicates
			d.State = State{SKUs: []SKUState{{SKU: "MUG", Orders: 1, Ordered: 1, Recorded: 1, Reserved: 2, Available: InitialStock - 2, RecordedUnits: 1}}}
			r.Duplicates = &d
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleReport()
			tt.change(r)
			r.check()
			if r.OK() != tt.want {
				var failed []string
				for _, c := range r.Checks {
					if !c.OK {
						failed = append(failed, c.Name+": "+c.Detail)
					}
				}
				t.Errorf("OK() = %v, want %v; failed: %v", r.OK(), tt.want, failed)
			}
		})
	}
}
