package once

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/internal/appdata"
	"github.com/dynalock/dynalock/lock"
	"github.com/dynalock/dynalock/middleware"
)

// Report is what a run did and what the check found.
type Report struct {
	Events, Copies, Deliveries int
	// CopiesByKind counts the copies by how they were sent.
	CopiesByKind map[string]int
	// Kills counts SIGKILLs; KilledBefore and KilledAfter the first
	// deliveries killed before and after their write.
	Kills, KilledBefore, KilledAfter int
	// Ran counts deliveries whose handler ran, Answered those answered
	// from the store, Failed those answered with an error (held, no time,
	// a fault), Lost those whose worker was killed.
	Ran, Answered, Failed, Lost int
	// Faults are the faults injected, by kind, and Late the requests that
	// landed late.
	Faults map[string]int
	// Requests are the median requests that reached DynamoDB per delivery
	// that ran and completed its event, and per delivery answered from the
	// store, by operation.
	RanRequests, AnsweredRequests map[string]int
	// Recovery is the longest time from a SIGKILL to its event's first
	// acknowledgement after it (redeliveries keep coming as SQS's would;
	// the entity locks are contended too).
	Recovery time.Duration
	// HeldAnswers counts deliveries refused because a lock or claim was
	// held. LatestHeld is how long after the holder's lease's end the
	// latest such judgement was made (the acquire's own time, which its
	// request carried; negative: all came before the end), and HeldSlack
	// how late it may be: the tolerance, and the millisecond stored ends
	// are rounded to. LatestAnswer is how late the latest held answer
	// reached the driver (the judgement plus the network, the SDK's
	// retries and the machine's load): reported, not judged.
	HeldAnswers                         int
	LatestHeld, HeldSlack, LatestAnswer time.Duration
	Violations                          []string
	Elapsed                             time.Duration
}

// OK reports whether the run found no violation.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

func (r *Report) violate(format string, args ...any) {
	if len(r.Violations) < 100 {
		r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
	}
}

// check reads the tables and judges the run.
func (d *driver) check(ctx context.Context, copies []*copyOf) (*Report, error) {
	r := &Report{Copies: len(copies), CopiesByKind: map[string]int{}, Faults: map[string]int{}}
	events := map[string][]*copyOf{}
	for _, cp := range copies {
		events[cp.event.ID] = append(events[cp.event.ID], cp)
		r.CopiesByKind[cp.kind]++
	}
	r.Events = len(events)
	d.mu.Lock()
	r.Kills = d.kills
	for _, f := range d.faults {
		for k, v := range f {
			r.Faults[k] += v
		}
	}
	d.mu.Unlock()
	r.HeldSlack = d.cfg.Tolerance + time.Millisecond
	var ranReqs, answeredReqs []map[string]int
	balances := map[string]int64{}
	for _, id := range slices.Sorted(maps.Keys(events)) {
		cps := events[id]
		ev := cps[0].event
		balances[ev.Account] += ev.Amount
		eff, _, err := appdata.Read(ctx, d.db, d.appTable, effectID(id))
		if err != nil {
			return nil, err
		}
		count, nonce := eff.Int("Count"), eff.String("Nonce")
		if count != 1 {
			r.violate("%s: effect applied %d times, want exactly once", id, count)
		}
		rec, found, err := lock.ReadRecord(ctx, d.db, d.lockTable, middleware.ClaimID("once", "", id))
		switch {
		case err != nil:
			return nil, err
		case !found || rec.DoneUntil.IsZero():
			r.violate("%s: no completed record", id)
		default:
			var out Output
			if err := json.Unmarshal(rec.Result, &out); err != nil || out.Nonce != nonce || out.Event != id {
				r.violate("%s: completed record's result %s is not the effect's run %q", id, rec.Result, nonce)
			}
		}
		var kills []time.Time
		for _, cp := range cps {
			if cp.kill == killBefore && len(cp.attempts) > 0 && cp.attempts[0].answer == nil {
				r.KilledBefore++
			}
			if cp.kill == killAfter && len(cp.attempts) > 0 && cp.attempts[0].answer == nil {
				r.KilledAfter++
			}
			acked := false
			for _, s := range cp.attempts {
				r.Deliveries++
				a := s.answer
				switch {
				case a == nil:
					r.Lost++
					kills = append(kills, s.killedAt)
					continue
				case a.NoResult:
					r.violate("%s: %s answered ErrNoResult: a completed duplicate without its stored result", id, s.d)
				case a.Err != "":
					r.Failed++
					// A lock or claim is held only within its holder's lease
					// and the tolerance after it: an acquire judged later must
					// have taken it over.
					if !a.HeldUntil.IsZero() {
						if late := a.HeldAt.Sub(a.HeldUntil); late > r.HeldSlack {
							r.violate("%s: %s found %s held %s after its holder's lease ended: stuck past its lease", id, s.d, a.Held, late.Round(time.Millisecond))
						}
						if r.HeldAnswers++; r.HeldAnswers == 1 {
							r.LatestHeld, r.LatestAnswer = a.HeldAt.Sub(a.HeldUntil), s.done.Sub(a.HeldUntil)
						}
						r.LatestHeld = max(r.LatestHeld, a.HeldAt.Sub(a.HeldUntil))
						r.LatestAnswer = max(r.LatestAnswer, s.done.Sub(a.HeldUntil))
					}
					continue
				case a.Ran:
					r.Ran++
					ranReqs = append(ranReqs, a.Requests)
					if a.Out.Nonce != nonce {
						r.violate("%s: %s ran and succeeded with run %q, but the effect is run %q's", id, s.d, a.Out.Nonce, nonce)
					}
				default:
					r.Answered++
					answeredReqs = append(answeredReqs, a.Requests)
					if a.Out.Nonce != nonce || a.Out.Event != id {
						r.violate("%s: %s answered %+v, not the stored result of run %q", id, s.d, a.Out, nonce)
					}
				}
				acked = true
			}
			if !acked {
				r.violate("%s: a %s copy was never acknowledged in %d deliveries (a record stuck?)", id, cp.kind, len(cp.attempts))
			}
		}
		// After a kill, the event's next acknowledgement comes once the
		// killed holder's lease has ended, at the latest.
		for _, k := range kills {
			var next time.Time
			for _, cp := range cps {
				for _, s := range cp.attempts {
					if s.answer != nil && s.answer.Err == "" && s.done.After(k) && (next.IsZero() || s.done.Before(next)) {
						next = s.done
					}
				}
			}
			if !next.IsZero() {
				r.Recovery = max(r.Recovery, next.Sub(k))
			}
		}
	}
	for acct, want := range balances {
		a, _, err := appdata.Read(ctx, d.db, d.appTable, accountID(acct))
		if err != nil {
			return nil, err
		}
		if got := a.Int("Balance"); got != want {
			r.violate("account %s: balance %d, want %d (its events' amounts, once each)", acct, got, want)
		}
	}
	held, err := d.held(ctx)
	if err != nil {
		return nil, err
	}
	for _, h := range held {
		r.violate("%s still held at the end by %q, past every lease", h.LockID, h.Owner)
	}
	r.RanRequests, r.AnsweredRequests = median(ranReqs), median(answeredReqs)
	return r, nil
}

// held returns the lock records held now.
func (d *driver) held(ctx context.Context) ([]lock.Record, error) {
	var out []lock.Record
	p := dynamodb.NewScanPaginator(d.db, &dynamodb.ScanInput{TableName: aws.String(d.lockTable), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("once: scan: %w", err)
		}
		for _, it := range page.Items {
			rec, err := lock.ParseRecord(it)
			if err != nil {
				return nil, err
			}
			if rec.Held(time.Now()) {
				out = append(out, rec)
			}
		}
	}
	return out, nil
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

// Print writes the report for a reader.
func (r *Report) Print(w io.Writer) {
	pf := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	kinds := []string{}
	for _, k := range []string{kindFirst, kindConcurrent, kindLost, kindAfter} {
		kinds = append(kinds, fmt.Sprintf("%d %s", r.CopiesByKind[k], k))
	}
	pf("once: %d events delivered as %d copies (%s) in %d deliveries, %.0fs", r.Events, r.Copies, strings.Join(kinds, ", "), r.Deliveries, r.Elapsed.Seconds())
	pf("once: handler ran %d times, %d duplicates answered from the store, %d deliveries failed and redelivered, %d lost with their worker",
		r.Ran, r.Answered, r.Failed, r.Lost)
	pf("once: %d SIGKILLs mid-handler (%d first deliveries before their write, %d after it); longest kill-to-acknowledgement %s",
		r.Kills, r.KilledBefore, r.KilledAfter, r.Recovery.Round(time.Millisecond))
	pf("once: %d deliveries found a lock or claim held; the latest judged %s after its holder's lease ended (at most %s: nothing stuck past its lease); its answer came %s after",
		r.HeldAnswers, r.LatestHeld.Round(time.Millisecond), r.HeldSlack, r.LatestAnswer.Round(time.Millisecond))
	var faults []string
	for _, k := range slices.Sorted(maps.Keys(r.Faults)) {
		faults = append(faults, k+" "+strconv.Itoa(r.Faults[k]))
	}
	pf("once: faults injected: %s", strings.Join(faults, ", "))
	pf("once: requests reaching DynamoDB per delivery (median): ran %s; duplicate answered %s", ops(r.RanRequests), ops(r.AnsweredRequests))
	if r.OK() {
		pf("once: PASS: every event's effect applied exactly once, every completed duplicate answered with the stored result, every completed record found, nothing left held")
		return
	}
	for _, v := range r.Violations {
		pf("once: VIOLATION: %s", v)
	}
	pf("once: FAIL: %d violations", len(r.Violations))
}

func ops(m map[string]int) string {
	var s []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s = append(s, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(s, ", ")
}
