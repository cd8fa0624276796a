package once

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The rules Check applies to a history. Each violation names one.
const (
	// RuleAtMostOnce: no event's effect is applied more than once, ever.
	RuleAtMostOnce = "effect-at-most-once"
	// RuleEffectOnce: an event whose handler completed at least once (a
	// delivery ran and succeeded, or was killed after its write went
	// through)
	// and which has a completion (its claim's record completed by one of
	// its transactions, or a delivery answered as a duplicate) has its
	// effect exactly once.
	RuleEffectOnce = "effect-once"
	// RuleSameOutput: every acknowledged answer that carries an output
	// (a duplicate answered from the store, or a run that succeeded) got
	// the event's first completed output (the result stored by the first
	// transaction that applied its effect), byte for byte; over HTTP
	// (WrapHTTP stores and replays the whole response since v0.1), a
	// duplicate's response is marked Idempotent-Replayed: true and a run's
	// is not, the mark aside.
	RuleSameOutput = "same-output"
	// RuleLostEvent: no event is never acknowledged while refused on its
	// claim when none of its own deliveries could hold that claim (held by
	// someone else's lease, or ErrPayloadMismatch: another event's payload
	// under its key).
	RuleLostEvent = "lost-event"
	// RuleSharedClaim: different events never share a claim: no answer
	// carries another event's output, no event is answered as a duplicate
	// though none of its own transactions applied its effect, and no two
	// events' transactions complete the same claim.
	RuleSharedClaim = "shared-claim"
	// RuleCompletion: an event whose handler completed has its claim's
	// record completed by the transaction that applied its effect, holding
	// that transaction's result, kept (its TTL) at least until the
	// completion's end.
	RuleCompletion = "completion"
	// RuleNoResult: no duplicate is answered with the middleware's error
	// for a completed event without a stored result (the handler's
	// lease.Complete stores the output in the transaction).
	RuleNoResult = "no-result"
	// RuleStuck: a lock or claim is found held at most the clock-skew
	// tolerance (and the stored end's millisecond) after its holder's
	// lease ended.
	RuleStuck = "stuck"
	// RuleLeaseEnd: no extend asks a lease the middleware took (whose end
	// is the invocation's deadline plus the grace) to end later than that.
	RuleLeaseEnd = "lease-end"
	// RuleBalance: each account's balance is the sum of its events'
	// amounts, each once.
	RuleBalance = "balance"
	// RuleHeldAtEnd: no lock or claim is held at the end, past every
	// lease.
	RuleHeldAtEnd = "held-at-end"
	// RuleUnacked: every copy of an event is acknowledged in the end.
	RuleUnacked = "unacknowledged"
	// RuleHistory: the history is whole: it has its end line, and every
	// effect's write has its transaction noted.
	RuleHistory = "history"
)

// Rules lists the rules in the order Check reports them.
var Rules = []string{RuleAtMostOnce, RuleEffectOnce, RuleSameOutput, RuleLostEvent, RuleSharedClaim, RuleCompletion,
	RuleNoResult, RuleStuck, RuleLeaseEnd, RuleBalance, RuleHeldAtEnd, RuleUnacked, RuleHistory}

// Violation is one breach of a rule.
type Violation struct {
	Rule   string
	Event  string // the event, if the rule is about one
	Detail string
}

func (v Violation) String() string {
	if v.Event == "" {
		return v.Rule + ": " + v.Detail
	}
	return v.Rule + ": " + v.Event + ": " + v.Detail
}

// Report is what a run did, as its history says, and what the check
// found.
type Report struct {
	// History is the file judged; Unsafe the run's -unsafe-claims mode.
	History                    string
	Unsafe                     string
	Events, Copies, Deliveries int
	// CopiesByKind counts the copies by how they were sent, and
	// EventsByPath the events by their delivery path.
	CopiesByKind, EventsByPath map[string]int
	// OddKeyEvents counts the events whose idempotency key has NUL, "/",
	// "#" or non-ASCII bytes; NULPairs the pairs of events whose keys differ
	// only by where a NUL sits, and NULPairsOneClaim those of them to which
	// the middleware's ClaimID gives one claim ID (a collision).
	OddKeyEvents, NULPairs, NULPairsOneClaim int
	// Kills counts SIGKILLs; KilledBefore and KilledAfter those asked
	// before and after a write.
	Kills, KilledBefore, KilledAfter int
	// Ran counts deliveries whose handler ran and succeeded, Answered those
	// answered from the store, Failed those answered with an error (held,
	// no time, a fault), Lost those whose worker was killed.
	Ran, Answered, Failed, Lost int
	// Faults are the faults injected, by kind.
	Faults map[string]int
	// Extends counts the handlers' extend requests, ExtendsPastEnd those
	// asking a lease to end past the invocation's deadline plus the grace.
	Extends, ExtendsPastEnd int
	// LostCompletions counts completing transactions whose every answer
	// was dropped after DynamoDB applied them; ReleasesAfterLost the claim
	// releases that followed them (sent, whatever their answer: the lock
	// refuses a release of a completed claim, which it leaves completed);
	// AnsweredAfterLost the events of those
	// later answered from the store.
	LostCompletions, ReleasesAfterLost, AnsweredAfterLost int
	// Requests are the median requests that reached DynamoDB per delivery
	// that ran and completed its event, and per delivery answered from the
	// store, by operation.
	RanRequests, AnsweredRequests map[string]int
	// Recovery is the longest time from a SIGKILL to its event's first
	// acknowledgement after it.
	Recovery time.Duration
	// HeldAnswers counts deliveries refused because a lock or claim was
	// held. LatestHeld is how long after the holder's lease's end the
	// latest such judgement was made (HeldError.At; negative: all came
	// before the end), HeldSlack how late it may be, LatestAnswer how late
	// the latest held answer reached the driver (reported, not judged).
	HeldAnswers                         int
	LatestHeld, HeldSlack, LatestAnswer time.Duration
	// Violations are the breaches found (at most 200 kept), ByRule all of
	// them counted by rule.
	Violations []Violation
	ByRule     map[string]int
	Elapsed    time.Duration
}

// OK reports whether the check found no violation.
func (r *Report) OK() bool { return len(r.ByRule) == 0 }

func (r *Report) violate(rule, event, format string, args ...any) {
	r.ByRule[rule]++
	if len(r.Violations) < 200 {
		r.Violations = append(r.Violations, Violation{Rule: rule, Event: event, Detail: fmt.Sprintf(format, args...)})
	}
}

// CheckFile loads the history at path and checks it.
func CheckFile(path string) (*Report, error) {
	h, err := Load(path)
	if err != nil {
		return nil, err
	}
	r := Check(h)
	r.History = path
	return r, nil
}

// eventRecord is one event's part of a history.
type eventRecord struct {
	line       *Line
	deliveries []*Line
	answers    map[int]*Line // by delivery
	txns       []*Line
	kills      []*Line // kills asked by its deliveries
	effect     *Line
}

func (e *eventRecord) acked() bool {
	for _, a := range e.answers {
		if a.Res == ResOK || a.Res == ResDuplicate {
			return true
		}
	}
	return false
}

// Check judges a history by the rules above. It reads nothing but h.
func Check(h *History) *Report {
	run := h.Run
	r := &Report{Unsafe: run.Unsafe, CopiesByKind: map[string]int{}, EventsByPath: map[string]int{}, Faults: map[string]int{},
		ByRule: map[string]int{}, HeldSlack: run.tolerance() + time.Millisecond}
	events := map[string]*eventRecord{}
	ev := func(id string) *eventRecord {
		if events[id] == nil {
			events[id] = &eventRecord{answers: map[int]*Line{}}
		}
		return events[id]
	}
	deliveries := map[int]*Line{}
	txns := map[string]*Line{} // by nonce
	stored := map[string]*Line{}
	var answers, extends, releases, kills, balances []*Line
	for i := range h.Lines {
		l := &h.Lines[i]
		switch l.Kind {
		case LineEvent:
			ev(l.Event).line = l
		case LineDelivery:
			deliveries[l.N] = l
			ev(l.Event).deliveries = append(ev(l.Event).deliveries, l)
		case LineAnswer:
			answers = append(answers, l)
			ev(l.Event).answers[l.N] = l
		case LineTxn:
			if _, dup := txns[l.Nonce]; !dup {
				txns[l.Nonce] = l
				ev(l.Event).txns = append(ev(l.Event).txns, l)
			}
		case LineExtend:
			extends = append(extends, l)
		case LineRelease:
			releases = append(releases, l)
		case LineKill:
			kills = append(kills, l)
			if l.Event != "" {
				ev(l.Event).kills = append(ev(l.Event).kills, l)
			}
		case LineEffect:
			ev(l.Event).effect = l
		case LineStored:
			stored[l.Claim] = l
			if l.HeldNow {
				r.violate(RuleHeldAtEnd, "", "claim %q still held at the end, by lease %s until %s, past every lease", l.Claim, l.Lease, time.UnixMilli(l.Expires).UTC().Format(time.RFC3339Nano))
			}
		case LineLock:
			if l.HeldNow {
				r.violate(RuleHeldAtEnd, "", "lock %q still held at the end, by lease %s until %s, past every lease", l.Lock, l.Lease, time.UnixMilli(l.Expires).UTC().Format(time.RFC3339Nano))
			}
		case LineBalance:
			balances = append(balances, l)
		}
	}
	if !h.Complete {
		r.violate(RuleHistory, "", "no end line: the run was cut short, and the tables' final state may be missing")
	} else if end := h.Lines[len(h.Lines)-1]; end.Kind == LineEnd && run.Start != 0 {
		r.Elapsed = time.Duration(end.Time - run.Start)
	}
	r.figures(events, deliveries, answers, kills)

	ids := slices.Sorted(maps.Keys(events))
	claimEvents := map[string]map[string]bool{} // claim → the events whose transactions complete it
	want := map[string]int64{}
	lostLeases := map[string]bool{}
	for _, id := range ids {
		e := events[id]
		if e.line != nil {
			want[e.line.Account] += e.line.Amount
		}
		for _, t := range e.txns {
			if t.Claim != "" {
				if claimEvents[t.Claim] == nil {
					claimEvents[t.Claim] = map[string]bool{}
				}
				claimEvents[t.Claim][id] = true
			}
			if t.LostAnswer {
				lostLeases[t.Lease] = true
			}
		}
		r.checkEvent(run, id, e, txns, stored)
	}
	for _, c := range slices.Sorted(maps.Keys(claimEvents)) {
		if evs := claimEvents[c]; len(evs) > 1 {
			names := slices.Sorted(maps.Keys(evs))
			r.violate(RuleSharedClaim, names[0], "claim %q completed by transactions of %d events: %s", c, len(names), strings.Join(names, ", "))
		}
	}
	for _, l := range extends {
		r.Extends++
		if l.Res != ResRefused && l.End > l.FixedEnd+5 { // the lock run's 5 ms for rounding
			r.ExtendsPastEnd++
			r.violate(RuleLeaseEnd, l.Event, "delivery %d's extend of %q (asked %s, %s) sets its end %s after the invocation's deadline plus the grace",
				l.N, l.Lock, askString(l.Ask), l.Res, time.Duration(l.End-l.FixedEnd)*time.Millisecond)
		}
	}
	for _, l := range releases {
		if l.Op == OpRelease && l.AfterLost {
			r.ReleasesAfterLost++
		}
	}
	for _, e := range events {
		lost := false
		for _, t := range e.txns {
			lost = lost || t.LostAnswer
		}
		if lost {
			r.LostCompletions++
			for _, a := range e.answers {
				if a.Res == ResDuplicate {
					r.AnsweredAfterLost++
					break
				}
			}
		}
	}
	got := map[string]int64{}
	for _, b := range balances {
		got[b.Account] = b.Balance
	}
	for _, acct := range slices.Sorted(maps.Keys(want)) {
		if got[acct] != want[acct] {
			r.violate(RuleBalance, "", "account %q: balance %d, want %d (its events' amounts, once each)", acct, got[acct], want[acct])
		}
	}
	return r
}

func askString(ms int64) string {
	if ms == 0 {
		return "the lease's TTL"
	}
	return (time.Duration(ms) * time.Millisecond).String()
}

// outputEvent is the event an output names: an Output's, or that of the
// Output in an HTTP response's body.
func outputEvent(out string) string {
	var o struct {
		Output
		Body *string `json:"body"`
	}
	if json.Unmarshal([]byte(out), &o) != nil {
		return ""
	}
	if o.Event == "" && o.Body != nil {
		return outputEvent(*o.Body)
	}
	return o.Event
}

// checkEvent applies the per-event rules to e.
func (r *Report) checkEvent(run RunInfo, id string, e *eventRecord, txns map[string]*Line, stored map[string]*Line) {
	var writes []Write
	var count int64
	if e.effect != nil {
		writes, count = e.effect.Writes, e.effect.Count
	}
	applied := max(count, int64(len(writes)))
	if applied > 1 {
		var ws []string
		for _, w := range writes {
			ws = append(ws, fmt.Sprintf("run %s (delivery %d, worker %d, claim %q lease %s)", w.Nonce, w.N, w.Worker, w.Claim, w.Lease))
		}
		r.violate(RuleAtMostOnce, id, "effect applied %d times: %s", applied, strings.Join(ws, "; "))
	}
	// The transactions that applied the effect, the first first.
	var committed []*Line
	for _, w := range writes {
		if t := txns[w.Nonce]; t != nil {
			committed = append(committed, t)
		} else {
			r.violate(RuleHistory, id, "the effect's write by run %s (delivery %d) has no transaction noted", w.Nonce, w.N)
		}
	}
	sort.Slice(committed, func(i, j int) bool { return committed[i].Time < committed[j].Time })
	var first *string
	if len(committed) > 0 {
		first = committed[0].Result
	}

	completedBy := "" // the delivery that completed the handler
	for _, n := range slices.Sorted(maps.Keys(e.answers)) {
		if a := e.answers[n]; a.Res == ResOK && completedBy == "" {
			completedBy = fmt.Sprintf("delivery %d ran and succeeded", n)
		}
	}
	for _, k := range e.kills {
		if k.Kill == KillAfter && completedBy == "" {
			completedBy = fmt.Sprintf("delivery %d was killed after its write went through", k.N)
		}
	}
	hasCompletion := false
	for _, a := range e.answers {
		hasCompletion = hasCompletion || a.Res == ResDuplicate
	}
	for _, t := range e.txns {
		if s := stored[t.Claim]; t.Claim != "" && s != nil && s.CompletedLease == t.Lease {
			hasCompletion = true
		}
	}
	if completedBy != "" && applied == 0 {
		if hasCompletion {
			r.violate(RuleEffectOnce, id, "its handler completed (%s) and the event is completed, but its effect was never applied", completedBy)
		} else {
			r.violate(RuleCompletion, id, "its handler completed (%s), but neither its effect nor its completion is stored", completedBy)
		}
	}
	// Whether or not its handler saw it succeed (a completion whose
	// answers were all lost fails the handler), the transaction that
	// applied the effect completed the claim.
	if len(committed) > 0 {
		t := committed[0]
		s := stored[t.Claim]
		switch {
		case t.Claim == "":
			r.violate(RuleCompletion, id, "the transaction that applied its effect (delivery %d) completed no claim: the wrapper took none", t.N)
		case s == nil || s.CompletedLease != t.Lease:
			by := "no record"
			if s != nil {
				by = fmt.Sprintf("completed by lease %q", s.CompletedLease)
			}
			r.violate(RuleCompletion, id, "claim %q: %s, not by lease %s of the transaction that applied its effect (delivery %d)", t.Claim, by, t.Lease, t.N)
		case !sameBytes(s.Result, t.Result):
			r.violate(RuleCompletion, id, "claim %q stores the result %s, not %s that the transaction that applied its effect stored", t.Claim, show(s.Result), show(t.Result))
		case s.Cleanup > 0 && s.Cleanup < s.DoneUntil:
			after := ""
			for _, l := range e.txns {
				if l.Lease == t.Lease && l.LostAnswer {
					after = " (its completing transaction lost every answer, and the claim was released after it)"
				}
			}
			r.violate(RuleCompletion, id, "claim %q's item may be deleted (its TTL) at %s, %s before its completion's end %s: a duplicate then would run again%s",
				t.Claim, time.UnixMilli(s.Cleanup).UTC().Format(time.RFC3339), time.Duration(s.DoneUntil-s.Cleanup)*time.Millisecond,
				time.UnixMilli(s.DoneUntil).UTC().Format(time.RFC3339), after)
		}
	}

	for _, n := range slices.Sorted(maps.Keys(e.answers)) {
		a := e.answers[n]
		if a.NoResult {
			r.violate(RuleNoResult, id, "delivery %d was answered ErrNoResult: a completed duplicate without its stored result", n)
		}
		if a.Res == ResHeld && a.Until != 0 {
			late := time.Duration(a.HeldAt - a.Until)
			if late > r.HeldSlack {
				r.violate(RuleStuck, id, "delivery %d found %q held %s after its holder's lease ended", n, a.Held, late.Round(time.Millisecond))
			}
		}
		if a.Res == ResDuplicate && applied == 0 && len(committed) == 0 {
			r.violate(RuleSharedClaim, id, "delivery %d was answered as a duplicate, but no transaction of this event ever applied its effect: its claim was completed by another event's", n)
			continue
		}
		if a.Out == nil || (a.Res != ResOK && a.Res != ResDuplicate) {
			continue
		}
		if other := outputEvent(*a.Out); other != id {
			r.violate(RuleSharedClaim, id, "delivery %d (%s) was answered with the output of %q: %s", n, a.Res, other, *a.Out)
			continue
		}
		if first != nil && *a.Out != *first {
			r.violate(RuleSameOutput, id, "delivery %d (%s) got %s, not the first completed output %s", n, a.Res, *a.Out, *first)
		}
		if e.line != nil && e.line.Path == PathHTTP && a.Replayed != (a.Res == ResDuplicate) {
			r.violate(RuleSameOutput, id, "delivery %d (%s) got a response marked Idempotent-Replayed %v", n, a.Res, a.Replayed)
		}
	}

	// Never acknowledged: lost, if refused on its claim when none of its
	// own deliveries could hold it.
	var unexplained []string
	for _, n := range slices.Sorted(maps.Keys(e.answers)) {
		a := e.answers[n]
		switch {
		case e.acked():
		case a.Mismatch:
			unexplained = append(unexplained, fmt.Sprintf("delivery %d refused with ErrPayloadMismatch (another payload under its key)", n))
		case a.Res == ResHeld && isClaim(a.Held):
			at := a.HeldAt
			if at == 0 {
				at = a.Time
			}
			if !e.ownHolder(run, n, at) {
				unexplained = append(unexplained, fmt.Sprintf("delivery %d found claim %q held until %s, when no other delivery of the event could hold it",
					n, a.Held, time.Unix(0, a.Until).UTC().Format(time.RFC3339Nano)))
			}
		}
	}
	if len(unexplained) > 0 {
		r.violate(RuleLostEvent, id, "never acknowledged in %d deliveries: %s", len(e.deliveries), strings.Join(unexplained, "; "))
		return
	}
	// Every copy acknowledged in the end.
	byCopy := map[int][]*Line{}
	for _, d := range e.deliveries {
		byCopy[d.Copy] = append(byCopy[d.Copy], d)
	}
	for _, c := range slices.Sorted(maps.Keys(byCopy)) {
		ds := byCopy[c]
		acked := slices.ContainsFunc(ds, func(d *Line) bool {
			a := e.answers[d.N]
			return a != nil && (a.Res == ResOK || a.Res == ResDuplicate)
		})
		if !acked {
			r.violate(RuleUnacked, id, "copy %d (%s) never acknowledged in %d deliveries", c, copyKind(ds[0]), len(ds))
		}
	}
}

func copyKind(d *Line) string {
	if d.CopyOf == "" {
		return kindFirst
	}
	return d.CopyOf
}

// ownHolder reports whether a delivery of the event other than n could
// hold its claim at time t: from its hand-over to its deadline (the
// answer's, or the timeout after the hand-over and a second, for a
// delivery killed unanswered) plus the grace and the tolerance.
func (e *eventRecord) ownHolder(run RunInfo, n int, t int64) bool {
	for _, d := range e.deliveries {
		if d.N == n || d.Time > t {
			continue
		}
		end := d.Time + int64(run.timeout()+time.Second)
		if a := e.answers[d.N]; a != nil && a.Deadline != 0 {
			end = a.Deadline
		}
		if t <= end+int64(run.grace()+run.tolerance()) {
			return true
		}
	}
	return false
}

func sameBytes(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func show(s *string) string {
	if s == nil {
		return "none"
	}
	return strconv.Quote(*s)
}

// figures fills in what the run did.
func (r *Report) figures(events map[string]*eventRecord, deliveries map[int]*Line, answers, kills []*Line) {
	for _, e := range events {
		if e.line == nil {
			continue
		}
		r.Events++
		r.Copies += len(e.line.Copies)
		for _, k := range e.line.Copies {
			r.CopiesByKind[k]++
		}
		r.EventsByPath[e.line.Path]++
		if odd(e.line.Keys) {
			r.OddKeyEvents++
		}
		if p := events[e.line.Pair]; p != nil && p.line != nil && e.line.Event < e.line.Pair {
			r.NULPairs++
			if len(e.deliveries) > 0 && len(p.deliveries) > 0 && e.deliveries[0].Claim == p.deliveries[0].Claim {
				r.NULPairsOneClaim++
			}
		}
	}
	r.Deliveries = len(deliveries)
	var ranReqs, answeredReqs []map[string]int
	faults := map[int]map[string]int{} // by worker: the latest counts
	answered := map[int]bool{}
	for _, a := range answers {
		answered[a.N] = true
		switch a.Res {
		case ResOK:
			r.Ran++
			ranReqs = append(ranReqs, a.Requests)
		case ResDuplicate:
			r.Answered++
			answeredReqs = append(answeredReqs, a.Requests)
		default:
			r.Failed++
		}
		if a.Res == ResHeld && a.Until != 0 {
			held, answer := time.Duration(a.HeldAt-a.Until), time.Duration(a.Time-a.Until)
			if r.HeldAnswers++; r.HeldAnswers == 1 {
				r.LatestHeld, r.LatestAnswer = held, answer
			}
			r.LatestHeld, r.LatestAnswer = max(r.LatestHeld, held), max(r.LatestAnswer, answer)
		} else if a.Res == ResHeld {
			r.HeldAnswers++
		}
		if faults[a.Worker] == nil {
			faults[a.Worker] = map[string]int{}
		}
		for k, v := range a.Faults {
			faults[a.Worker][k] = max(faults[a.Worker][k], v)
		}
	}
	for _, f := range faults {
		for k, v := range f {
			r.Faults[k] += v
		}
	}
	for n := range deliveries {
		if !answered[n] {
			r.Lost++
		}
	}
	for _, k := range kills {
		r.Kills++
		switch k.Kill {
		case KillBefore:
			r.KilledBefore++
		case KillAfter:
			r.KilledAfter++
		}
		// The event's next acknowledgement after the kill.
		if e := events[k.Event]; e != nil {
			var next int64
			for _, a := range e.answers {
				if (a.Res == ResOK || a.Res == ResDuplicate) && a.Time > k.Time && (next == 0 || a.Time < next) {
					next = a.Time
				}
			}
			if next != 0 {
				r.Recovery = max(r.Recovery, time.Duration(next-k.Time))
			}
		}
	}
	r.RanRequests, r.AnsweredRequests = median(ranReqs), median(answeredReqs)
}

// odd reports keys with a NUL, "/", "#" or a non-ASCII byte.
func odd(keys []string) bool {
	for _, k := range keys {
		for i := range len(k) {
			if c := k[i]; c == 0 || c == '/' || c == '#' || c >= 0x80 {
				return true
			}
		}
	}
	return false
}

// median returns the median count of each operation.
func median(counts []map[string]int) map[string]int {
	ops := map[string][]int{}
	for _, c := range counts {
		for op := range c {
			ops[op] = nil
		}
	}
	for _, c := range counts {
		for op := range ops {
			ops[op] = append(ops[op], c[op])
		}
	}
	out := map[string]int{}
	for op, ns := range ops {
		sort.Ints(ns)
		if m := ns[len(ns)/2]; m > 0 {
			out[op] = m
		}
	}
	return out
}

// Print writes the report for a reader, with at most limit violations.
func (r *Report) Print(w io.Writer, limit int) {
	pf := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	var kinds, paths []string
	for _, k := range []string{kindFirst, kindConcurrent, kindLost, kindAfter} {
		kinds = append(kinds, fmt.Sprintf("%d %s", r.CopiesByKind[k], k))
	}
	for _, p := range slices.Sorted(maps.Keys(r.EventsByPath)) {
		paths = append(paths, fmt.Sprintf("%s %d", p, r.EventsByPath[p]))
	}
	pf("once: %d events delivered as %d copies (%s) in %d deliveries, %.0fs", r.Events, r.Copies, strings.Join(kinds, ", "), r.Deliveries, r.Elapsed.Seconds())
	pf("once: delivery paths: %s; %d events with odd bytes in their keys, %d pairs of events whose keys differ only by where a NUL sits (%d given one claim ID by ClaimID)",
		strings.Join(paths, ", "), r.OddKeyEvents, r.NULPairs, r.NULPairsOneClaim)
	pf("once: handler ran %d times, %d duplicates answered from the store, %d deliveries failed and redelivered, %d lost with their worker",
		r.Ran, r.Answered, r.Failed, r.Lost)
	pf("once: %d SIGKILLs mid-handler (%d before a write, %d after it); longest kill-to-acknowledgement %s",
		r.Kills, r.KilledBefore, r.KilledAfter, r.Recovery.Round(time.Millisecond))
	pf("once: %d completions lost every answer after they went through; %d claim releases followed them; %d of their events were later answered from the store",
		r.LostCompletions, r.ReleasesAfterLost, r.AnsweredAfterLost)
	pf("once: %d extends of leases whose end is the deadline plus the grace; %d asked to end past it", r.Extends, r.ExtendsPastEnd)
	pf("once: %d deliveries found a lock or claim held; the latest judged %s after its holder's lease ended (at most %s); its answer came %s after",
		r.HeldAnswers, r.LatestHeld.Round(time.Millisecond), r.HeldSlack, r.LatestAnswer.Round(time.Millisecond))
	var faults []string
	for _, k := range slices.Sorted(maps.Keys(r.Faults)) {
		faults = append(faults, k+" "+strconv.Itoa(r.Faults[k]))
	}
	pf("once: faults injected: %s", strings.Join(faults, ", "))
	pf("once: requests reaching DynamoDB per delivery (median): ran %s; duplicate answered %s", ops(r.RanRequests), ops(r.AnsweredRequests))
	if r.History != "" {
		pf("once: history %s (judge it again: go run ./cmd/chaos/once -check %s)", r.History, r.History)
	}
	if r.Unsafe != "" {
		pf("once: -unsafe-claims %s: this run breaks a condition the proof relies on; it must FAIL", r.Unsafe)
	}
	if r.OK() {
		pf("once: PASS: every rule held (%s)", strings.Join(Rules, ", "))
		return
	}
	for i, v := range r.Violations {
		if i == limit {
			pf("once: ... %d more", len(r.Violations)-limit)
			break
		}
		pf("once: VIOLATION %s", v)
	}
	var by []string
	n := 0
	for _, rule := range Rules {
		if c := r.ByRule[rule]; c > 0 {
			by = append(by, fmt.Sprintf("%s %d", rule, c))
			n += c
		}
	}
	pf("once: FAIL: %d violations (%s)", n, strings.Join(by, ", "))
}

func ops(m map[string]int) string {
	var s []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s = append(s, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(s, ", ")
}
