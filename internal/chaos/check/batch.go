package check

import (
	"slices"
	"time"

	"github.com/dynalock/dynalock/internal/chaos/history"
)

// batches checks the SQS batches handed to the middleware:
//   - each returned by its deadline (plus the run's scheduling slack, and
//     how long its process was measurably stalled: a ticker's gaps, or a
//     record's context seen ending after its deadline): a batch that does
//     not is stopped by Lambda and redelivered whole;
//   - no record failed with lock.ErrInvalidInput: the middleware sizes
//     every lease itself, so a short time left must give ErrNoTime or an
//     acquisition error, not a rejected TTL;
//   - in a FIFO batch, the records of one message group ran one after the
//     other in batch order, and after a failed record no later record of
//     its group ran, and each of them failed.
//
// Lock exclusion between records (repeated keys within a record and
// across records) is the lock's rules' to judge: each record's section is
// one per lease.
func (r *Report) batches(h *history.History) {
	ran := map[[2]int]map[string][]*history.Section{} // worker, batch → message → sections
	for _, s := range h.Sections {
		if s.Path != history.PathSQS {
			continue
		}
		k := [2]int{s.Worker, s.Batch}
		if ran[k] == nil {
			ran[k] = map[string][]*history.Section{}
		}
		ran[k][s.Msg] = append(ran[k][s.Msg], s)
	}
	for _, b := range h.Batches {
		r.SQS.Batches++
		r.SQS.Records += len(b.Records)
		if b.FIFO {
			r.SQS.FIFOBatches++
		}
		for _, rec := range b.Records {
			if repeats(rec.Keys) {
				r.SQS.RepeatedKeys++
			}
		}
		secs := ran[[2]int{b.Worker, b.ID}]
		r.SQS.Ran += len(secs)
		for _, l := range b.Logs {
			if l.Invalid {
				r.SQS.InvalidInput++
				r.violate(RuleBatch, "worker %d, batch %d: record %s failed with invalid input, not ErrNoTime or an acquisition error: %q: %s",
					b.Worker, b.ID, l.Msg, l.Message, l.Err)
			}
		}
		switch b.Result {
		case "":
			continue // the worker died first
		case history.ResultOverdue:
			r.SQS.Overdue++
			r.violate(RuleBatch, "worker %d, batch %d (%d records, FIFO %v, policy %s, heartbeat %v): no answer %s after its deadline %s",
				b.Worker, b.ID, len(b.Records), b.FIFO, b.Policy, b.Heartbeat, b.End.Sub(b.Deadline).Round(time.Millisecond), clock(b.Deadline))
			continue
		}
		r.SQS.Failed += len(b.Failures)
		late := b.End.Sub(b.Deadline)
		stall := max(stalled(secs), overlap(h.Stalls[b.Worker], b.Start, b.End))
		r.SQS.MaxLate = max(r.SQS.MaxLate, late)
		r.SQS.MaxStall = max(r.SQS.MaxStall, stall)
		if late > h.Run.BatchSlack+stall {
			r.SQS.Overdue++
			r.violate(RuleBatch, "worker %d, batch %d (%d records, FIFO %v, policy %s, heartbeat %v): returned %s after its deadline %s (its process stalled %s)",
				b.Worker, b.ID, len(b.Records), b.FIFO, b.Policy, b.Heartbeat, late.Round(time.Millisecond), clock(b.Deadline), stall.Round(time.Millisecond))
		}
		if b.FIFO {
			r.fifo(b, secs)
		}
	}
}

// fifo checks the order of each message group of a FIFO batch.
func (r *Report) fifo(b *history.Batch, secs map[string][]*history.Section) {
	failed := map[string]bool{}
	for _, id := range b.Failures {
		failed[id] = true
	}
	groups := map[string][]history.Record{}
	for _, rec := range b.Records {
		groups[rec.Group] = append(groups[rec.Group], rec)
	}
	for g, recs := range groups {
		var prev []*history.Section // the last record of the group that ran
		prevID, failedID := "", ""
		for _, rec := range recs {
			mine := secs[rec.ID]
			if failedID != "" {
				if len(mine) > 0 {
					r.violate(RuleBatch, "worker %d, batch %d, FIFO group %s: record %s ran after record %s of its group failed", b.Worker, b.ID, g, rec.ID, failedID)
				}
				if !failed[rec.ID] {
					r.violate(RuleBatch, "worker %d, batch %d, FIFO group %s: record %s was not reported failed, though record %s before it in its group failed", b.Worker, b.ID, g, rec.ID, failedID)
				}
			}
			if len(mine) > 0 && len(prev) > 0 && mine[0].Enter.Before(prev[0].End) {
				r.violate(RuleBatch, "worker %d, batch %d, FIFO group %s: record %s began at %s, before record %s before it in its group ended (%s)",
					b.Worker, b.ID, g, rec.ID, clock(mine[0].Enter), prevID, clock(prev[0].End))
			}
			if len(mine) > 0 {
				prev, prevID = mine, rec.ID
			}
			if failed[rec.ID] && failedID == "" {
				failedID = rec.ID
			}
		}
	}
}

// stalled measures how long the batch's process could not run: the
// longest a record's context, ended by its deadline, was seen ending
// after that deadline. A timer fires late only when the process is not
// scheduled (a busy machine, a frozen sandbox); a middleware that waits
// too long has its records' timers fire on time.
func stalled(secs map[string][]*history.Section) time.Duration {
	var d time.Duration
	for _, ss := range secs {
		for _, s := range ss {
			if !s.CtxDone.IsZero() && !s.CtxDeadline.IsZero() {
				d = max(d, s.CtxDone.Sub(s.CtxDeadline))
			}
		}
	}
	return d
}

// overlap sums how much of the spans lies within [from, to].
func overlap(spans []history.Span, from, to time.Time) time.Duration {
	var d time.Duration
	for _, s := range spans {
		if a, b := maxTime(s.Start, from), minTime(s.End, to); b.After(a) {
			d += b.Sub(a)
		}
	}
	return d
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func repeats(keys []string) bool {
	s := slices.Clone(keys)
	slices.Sort(s)
	return len(slices.Compact(s)) < len(keys)
}
