package once_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dynalock/dynalock/internal/chaos/once"
)

// ms is a time of the synthetic histories, in Unix nanoseconds: base plus
// n milliseconds.
func ms(n int64) int64 {
	return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixNano() + n*int64(time.Millisecond)
}

func sp(s string) *string { return &s }

const (
	claim1 = "once/idempotency#c1"
	claim2 = "once/idempotency#c2"
	out1   = `{"event":"e-1","nonce":"N1"}`
	out2   = `{"event":"e-2","nonce":"N3"}`
)

// good is a history that passes: e-1 delivered twice (the second answered
// from the store), e-2 once (over SQS, no output), both on account a.
func good() []once.Line {
	doneUntil := ms(1000+24*3600*1000) / int64(time.Millisecond)
	return []once.Line{
		{Kind: once.LineRun, Time: ms(0), Run: &once.RunInfo{Events: 2, Paths: []string{once.PathWrap, once.PathSQS}, Namespace: "once",
			TimeoutMs: 3000, ReserveMs: 300, GraceMs: 300, ToleranceMs: 150, Start: ms(0)}},
		{Kind: once.LineEvent, Event: "e-1", Account: "a", Amount: 5, Keys: []string{"e-1\x00"}, Path: once.PathWrap, Copies: []string{"first", "after"}},
		{Kind: once.LineEvent, Event: "e-2", Account: "a", Amount: 7, Keys: []string{"e-1", "\x00"}, Path: once.PathSQS, Copies: []string{"first"}},
		{Kind: once.LineDelivery, Time: ms(100), N: 1, Event: "e-1", Worker: 1, Path: once.PathWrap, Claim: claim1},
		{Kind: once.LineDelivery, Time: ms(150), N: 3, Event: "e-2", Worker: 2, Path: once.PathSQS, Claim: claim2},
		{Kind: once.LineTxn, Time: ms(200), N: 1, Event: "e-1", Worker: 1, Nonce: "N1", Claim: claim1, Lease: "L1", Result: sp(out1), Locks: []string{"once/a"}},
		{Kind: once.LineTxn, Time: ms(250), N: 3, Event: "e-2", Worker: 2, Nonce: "N3", Claim: claim2, Lease: "L3", Result: sp(out2), Locks: []string{"once/a"}},
		{Kind: once.LineAnswer, Time: ms(300), N: 1, Event: "e-1", Worker: 1, Res: once.ResOK, Ran: true, Out: sp(out1), Deadline: ms(3100)},
		{Kind: once.LineAnswer, Time: ms(320), N: 3, Event: "e-2", Worker: 2, Res: once.ResOK, Ran: true, Deadline: ms(3150)},
		{Kind: once.LineDelivery, Time: ms(400), N: 2, Event: "e-1", Copy: 1, CopyOf: "after", Worker: 2, Path: once.PathWrap, Claim: claim1},
		{Kind: once.LineAnswer, Time: ms(450), N: 2, Event: "e-1", Worker: 2, Res: once.ResDuplicate, Out: sp(out1), Deadline: ms(3400)},
		{Kind: once.LineExtend, Time: ms(220), N: 1, Event: "e-1", Worker: 1, Lock: "once/a", Lease: "A1", Ask: 400,
			End: ms(620) / int64(time.Millisecond), FixedEnd: ms(3400) / int64(time.Millisecond), Res: once.ResRefused},
		{Kind: once.LineEffect, Event: "e-1", Count: 1, Writes: []once.Write{{Nonce: "N1", N: 1, Worker: 1, Claim: claim1, Lease: "L1"}}},
		{Kind: once.LineEffect, Event: "e-2", Count: 1, Writes: []once.Write{{Nonce: "N3", N: 3, Worker: 2, Claim: claim2, Lease: "L3"}}},
		{Kind: once.LineBalance, Account: "a", Balance: 12},
		{Kind: once.LineStored, Time: ms(9000), Claim: claim1, Lease: "L1", CompletedLease: "L1", Result: sp(out1), Released: true,
			CompletedAt: ms(200) / int64(time.Millisecond), DoneUntil: doneUntil, Cleanup: doneUntil + 24*3600*1000},
		{Kind: once.LineStored, Time: ms(9000), Claim: claim2, Lease: "L3", CompletedLease: "L3", Result: sp(out2), Released: true,
			CompletedAt: ms(250) / int64(time.Millisecond), DoneUntil: doneUntil, Cleanup: doneUntil + 24*3600*1000},
		{Kind: once.LineLock, Time: ms(9000), Lock: "once/a", Lease: "A3", Released: true},
		{Kind: once.LineEnd, Time: ms(9001)},
	}
}

// find returns the first line of kind k with delivery n (0: any).
func find(ls []once.Line, k string, n int) *once.Line {
	for i := range ls {
		if ls[i].Kind == k && (n == 0 || ls[i].N == n) {
			return &ls[i]
		}
	}
	panic("no " + k)
}

func findEvent(ls []once.Line, k, ev string) *once.Line {
	for i := range ls {
		if ls[i].Kind == k && ls[i].Event == ev {
			return &ls[i]
		}
	}
	panic("no " + k + " of " + ev)
}

func drop(ls []once.Line, k string) []once.Line {
	return slices.DeleteFunc(ls, func(l once.Line) bool { return l.Kind == k })
}

// check writes ls as a history file, as a run would, and judges it.
func check(t *testing.T, ls []once.Line) *once.Report {
	t.Helper()
	var b bytes.Buffer
	for _, l := range ls {
		j, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(j, '\n'))
	}
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := once.CheckFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGoodHistoryPasses(t *testing.T) {
	r := check(t, good())
	if !r.OK() {
		t.Fatalf("violations: %v", r.Violations)
	}
	if r.Events != 2 || r.Ran != 2 || r.Answered != 1 || r.Deliveries != 3 || r.Extends != 1 || r.OddKeyEvents != 2 {
		t.Errorf("figures: %+v", r)
	}
}

// TestRules: each rule fails a history that breaks it (bug), with its name
// and a detail that says what; the look-alikes (fixed) pass.
func TestRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bug    func([]once.Line) []once.Line
		fixed  func([]once.Line) []once.Line // a look-alike that must pass, if any
		rule   string
		detail string
	}{
		{
			name: "an effect applied twice",
			bug: func(ls []once.Line) []once.Line {
				e := findEvent(ls, once.LineEffect, "e-1")
				e.Count, e.Writes = 2, append(e.Writes, once.Write{Nonce: "N2", N: 2, Worker: 2, Claim: claim1, Lease: "L2"})
				find(ls, once.LineAnswer, 2).Res, find(ls, once.LineAnswer, 2).Ran = once.ResOK, true
				return append(ls, once.Line{Kind: once.LineTxn, Time: ms(420), N: 2, Event: "e-1", Worker: 2, Nonce: "N2", Claim: claim1, Lease: "L2", Result: sp(out1)})
			},
			rule: once.RuleAtMostOnce, detail: "effect applied 2 times",
		},
		{
			name: "a completed event without its effect",
			bug: func(ls []once.Line) []once.Line {
				e := findEvent(ls, once.LineEffect, "e-1")
				e.Count, e.Writes = 0, nil
				return ls
			},
			rule: once.RuleEffectOnce, detail: "its effect was never applied",
		},
		{
			name: "a duplicate answered with another run's output",
			bug: func(ls []once.Line) []once.Line {
				find(ls, once.LineAnswer, 2).Out = sp(`{"event":"e-1","nonce":"OTHER"}`)
				return ls
			},
			fixed: func(ls []once.Line) []once.Line {
				find(ls, once.LineAnswer, 2).Out = sp(out1)
				return ls
			},
			rule: once.RuleSameOutput, detail: "not the first completed output",
		},
		{
			name: "a duplicate answered with bytes that differ from the stored output",
			bug: func(ls []once.Line) []once.Line {
				find(ls, once.LineAnswer, 2).Out = sp(`{"event":"e-1", "nonce":"N1"}`)
				return ls
			},
			rule: once.RuleSameOutput, detail: "not the first completed output",
		},
		{
			name: "an event refused with another event's payload under its key",
			bug: func(ls []once.Line) []once.Line {
				ls = removeEvent2Effects(ls)
				a := find(ls, once.LineAnswer, 3)
				a.Res, a.Ran, a.Err, a.Mismatch = once.ResFailed, false, "lock: idempotency key reused with another payload", true
				return ls
			},
			rule: once.RuleLostEvent, detail: "ErrPayloadMismatch",
		},
		{
			name: "an event refused on its claim held by no delivery of its own",
			bug: func(ls []once.Line) []once.Line {
				ls = removeEvent2Effects(ls)
				a := find(ls, once.LineAnswer, 3)
				a.Res, a.Ran, a.Held, a.Until, a.HeldAt = once.ResHeld, false, claim2, ms(3000), ms(200)
				return ls
			},
			fixed: func(ls []once.Line) []once.Line {
				// Held by another delivery of its own (a copy in flight):
				// not lost, but the copy was never acknowledged.
				ls = removeEvent2Effects(ls)
				a := find(ls, once.LineAnswer, 3)
				a.Res, a.Ran, a.Held, a.Until, a.HeldAt = once.ResHeld, false, claim2, ms(3000), ms(200)
				return append(ls, once.Line{Kind: once.LineDelivery, Time: ms(140), N: 9, Event: "e-2", Worker: 1, Path: once.PathSQS, Claim: claim2},
					once.Line{Kind: once.LineAnswer, Time: ms(500), N: 9, Event: "e-2", Worker: 1, Res: once.ResFailed, Ran: true, Err: "x", Deadline: ms(3140)})
			},
			rule: once.RuleLostEvent, detail: "when no other delivery of the event could hold it",
		},
		{
			name: "an HTTP duplicate without the Idempotent-Replayed mark",
			bug: func(ls []once.Line) []once.Line {
				ls = overHTTP(ls)
				find(ls, once.LineAnswer, 2).Replayed = false
				return ls
			},
			fixed: overHTTP,
			rule:  once.RuleSameOutput, detail: "marked Idempotent-Replayed false",
		},
		{
			name: "an HTTP run marked Idempotent-Replayed",
			bug: func(ls []once.Line) []once.Line {
				ls = overHTTP(ls)
				find(ls, once.LineAnswer, 1).Replayed = true
				return ls
			},
			rule: once.RuleSameOutput, detail: "marked Idempotent-Replayed true",
		},
		{
			name: "an HTTP duplicate answered with another event's response",
			bug: func(ls []once.Line) []once.Line {
				ls = overHTTP(ls)
				find(ls, once.LineAnswer, 2).Out = sp(httpResponse(out2))
				return ls
			},
			rule: once.RuleSharedClaim, detail: `answered with the output of "e-2"`,
		},
		{
			name: "a duplicate answered with another event's output",
			bug: func(ls []once.Line) []once.Line {
				find(ls, once.LineAnswer, 2).Out = sp(out2)
				return ls
			},
			rule: once.RuleSharedClaim, detail: `answered with the output of "e-2"`,
		},
		{
			name: "an event without output (SQS) answered as a duplicate of nothing of its own",
			bug: func(ls []once.Line) []once.Line {
				ls = removeEvent2Effects(ls)
				a := find(ls, once.LineAnswer, 3)
				a.Res, a.Ran = once.ResDuplicate, false
				return ls
			},
			rule: once.RuleSharedClaim, detail: "no transaction of this event ever applied its effect",
		},
		{
			name: "two events' transactions completing one claim",
			bug: func(ls []once.Line) []once.Line {
				findEvent(ls, once.LineTxn, "e-2").Claim = claim1
				return ls
			},
			rule: once.RuleSharedClaim, detail: "completed by transactions of 2 events: e-1, e-2",
		},
		{
			name: "a claim completed by another lease than the effect's transaction's",
			bug: func(ls []once.Line) []once.Line {
				ls[slices.IndexFunc(ls, func(l once.Line) bool { return l.Kind == once.LineStored && l.Claim == claim1 })].CompletedLease = "L9"
				return ls
			},
			rule: once.RuleCompletion, detail: `completed by lease "L9"`,
		},
		{
			name: "a claim storing another result",
			bug: func(ls []once.Line) []once.Line {
				ls[slices.IndexFunc(ls, func(l once.Line) bool { return l.Kind == once.LineStored && l.Claim == claim1 })].Result = sp(`{}`)
				return ls
			},
			rule: once.RuleCompletion, detail: "stores the result",
		},
		{
			name: "a completed claim whose TTL comes before its completion's end",
			bug: func(ls []once.Line) []once.Line {
				s := &ls[slices.IndexFunc(ls, func(l once.Line) bool { return l.Kind == once.LineStored && l.Claim == claim1 })]
				s.Cleanup = s.DoneUntil - 3600*1000
				return ls
			},
			rule: once.RuleCompletion, detail: "may be deleted (its TTL)",
		},
		{
			name: "an effect's transaction completing no claim (a wrapper that ignores WithIdempotency)",
			bug: func(ls []once.Line) []once.Line {
				t := findEvent(ls, once.LineTxn, "e-2")
				t.Claim, t.Lease, t.Result = "", "", nil
				return ls
			},
			rule: once.RuleCompletion, detail: "completed no claim",
		},
		{
			name: "a duplicate answered ErrNoResult",
			bug: func(ls []once.Line) []once.Line {
				a := find(ls, once.LineAnswer, 2)
				a.Res, a.Out, a.Err, a.NoResult = once.ResFailed, nil, "middleware: event completed, but its result was not stored", true
				ls = append(ls, once.Line{Kind: once.LineDelivery, Time: ms(900), N: 4, Event: "e-1", Copy: 1, Worker: 1, Path: once.PathWrap})
				return append(ls, once.Line{Kind: once.LineAnswer, Time: ms(950), N: 4, Event: "e-1", Worker: 1, Res: once.ResDuplicate, Out: sp(out1)})
			},
			rule: once.RuleNoResult, detail: "ErrNoResult",
		},
		{
			name: "a claim found held past its holder's lease",
			bug: func(ls []once.Line) []once.Line {
				return appendHeld(ls, ms(5000), ms(5400))
			},
			fixed: func(ls []once.Line) []once.Line {
				return appendHeld(ls, ms(5000), ms(5150)) // within the tolerance
			},
			rule: once.RuleStuck, detail: "after its holder's lease ended",
		},
		{
			name: "a middleware lease extended past the deadline plus the grace",
			bug: func(ls []once.Line) []once.Line {
				x := find(ls, once.LineExtend, 1)
				x.Ask, x.End, x.Res = 0, x.FixedEnd+2900, once.ResOK
				return ls
			},
			fixed: func(ls []once.Line) []once.Line {
				x := find(ls, once.LineExtend, 1)
				x.Ask, x.End, x.Res = 0, x.FixedEnd+2900, once.ResRefused // refused: it moved nothing
				return ls
			},
			rule: once.RuleLeaseEnd, detail: "after the invocation's deadline plus the grace",
		},
		{
			name: "a balance that lost an event's amount",
			bug: func(ls []once.Line) []once.Line {
				find(ls, once.LineBalance, 0).Balance = 5
				return ls
			},
			rule: once.RuleBalance, detail: "balance 5, want 12",
		},
		{
			name: "a claim held at the end",
			bug: func(ls []once.Line) []once.Line {
				ls[slices.IndexFunc(ls, func(l once.Line) bool { return l.Kind == once.LineStored })].HeldNow = true
				return ls
			},
			rule: once.RuleHeldAtEnd, detail: "still held at the end",
		},
		{
			name: "a copy never acknowledged",
			bug: func(ls []once.Line) []once.Line {
				a := find(ls, once.LineAnswer, 2)
				a.Res, a.Out, a.Err = once.ResFailed, nil, "throttled"
				return ls
			},
			rule: once.RuleUnacked, detail: "copy 1 (after) never acknowledged in 1 deliveries",
		},
		{
			name: "a history cut short",
			bug:  func(ls []once.Line) []once.Line { return drop(ls, once.LineEnd) },
			rule: once.RuleHistory, detail: "no end line",
		},
		{
			name: "an effect's write without its transaction",
			bug:  func(ls []once.Line) []once.Line { return drop(ls, once.LineTxn) },
			rule: once.RuleHistory, detail: "has no transaction noted",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := check(t, tc.bug(good()))
			found := false
			for _, v := range r.Violations {
				found = found || v.Rule == tc.rule && strings.Contains(v.Detail, tc.detail)
			}
			if !found {
				t.Errorf("want a %s violation saying %q; got %v", tc.rule, tc.detail, r.Violations)
			}
			if tc.fixed != nil {
				r := check(t, tc.fixed(good()))
				if r.ByRule[tc.rule] > 0 {
					t.Errorf("the look-alike was reported: %v", r.Violations)
				}
			}
		})
	}
}

// httpResponse is the function URL response a handler of the HTTP path
// answers with out, as JSON: what WrapHTTP stores and replays.
func httpResponse(out string) string {
	b, _ := json.Marshal(map[string]any{"statusCode": 200, "headers": map[string]string{"Content-Type": "application/json"},
		"body": out, "isBase64Encoded": false, "cookies": nil})
	return string(b)
}

// overHTTP makes e-1 an HTTP path's event: its transaction stores the
// whole response, its answers carry it, and its duplicate is marked
// replayed.
func overHTTP(ls []once.Line) []once.Line {
	resp := httpResponse(out1)
	findEvent(ls, once.LineEvent, "e-1").Path = once.PathHTTP
	findEvent(ls, once.LineTxn, "e-1").Result = sp(resp)
	ls[slices.IndexFunc(ls, func(l once.Line) bool { return l.Kind == once.LineStored && l.Claim == claim1 })].Result = sp(resp)
	find(ls, once.LineAnswer, 1).Out = sp(resp)
	a := find(ls, once.LineAnswer, 2)
	a.Out, a.Replayed = sp(resp), true
	return ls
}

// removeEvent2Effects makes e-2 never run to completion: no transaction,
// effect or record, its amount not in the balance.
func removeEvent2Effects(ls []once.Line) []once.Line {
	ls = slices.DeleteFunc(ls, func(l once.Line) bool {
		return (l.Kind == once.LineTxn || l.Kind == once.LineEffect) && l.Event == "e-2" || l.Kind == once.LineStored && l.Claim == claim2
	})
	find(ls, once.LineBalance, 0).Balance = 5
	return ls
}

// appendHeld adds a third delivery of e-1 refused at heldAt because its
// claim was held by a lease ending at until.
func appendHeld(ls []once.Line, until, heldAt int64) []once.Line {
	ls = append(ls, once.Line{Kind: once.LineDelivery, Time: heldAt - 5*int64(time.Millisecond), N: 5, Event: "e-1", Copy: 1, Worker: 1, Path: once.PathWrap})
	ls = append(ls, once.Line{Kind: once.LineAnswer, Time: heldAt + int64(time.Millisecond), N: 5, Event: "e-1", Worker: 1, Res: once.ResHeld,
		Held: claim1, Until: until, HeldAt: heldAt, Err: "held"})
	return ls
}

// TestHistoryKeepsKeyBytes: keys that differ only by where a NUL sits,
// and non-ASCII ones, come back from a history file byte for byte, and a
// last line cut short by a kill is dropped.
func TestHistoryKeepsKeyBytes(t *testing.T) {
	keys := []string{"p\x00", "t", "\x00", "日本/#", "é"}
	b, err := json.Marshal(once.Line{Kind: once.LineEvent, Event: "e-1", Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	run, _ := json.Marshal(once.Line{Kind: once.LineRun, Run: &once.RunInfo{Events: 1}})
	h, err := once.Parse(slices.Concat(run, []byte("\n"), b, []byte("\n"), []byte(`{"k":"answ`)))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Lines) != 2 || !slices.Equal(h.Lines[1].Keys, keys) {
		t.Errorf("lines %+v", h.Lines)
	}
}
