package demo

import (
	"fmt"
	"io"
)

// printBackoff writes reserve-stock's order latencies with the visibility
// backoff and without it, side by side.
func (r *Report) printBackoff(w io.Writer) {
	pf := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	b := r.Backoff
	with := r.Locked.Stock
	if b.Pair {
		with = b.With
		pf("  %-17s one batch of %d orders to two reserve-stock environments at once, one with the backoff and one without (SQS_VISIBILITY_BACKOFF=false),", "did", b.Records)
		pf("  %-17s each on tables of its own, while the demo held %s's lock for %s; visibility timeout %s = %d × the %ds function timeout", "",
			b.HeldSKU, heldFor, b.Queue.Visibility, VisibilityTimeoutFactor, Timeout)
	} else {
		pf("  %-17s section 1's %d orders again, at the same time, to reserve-stock without the backoff (SQS_VISIBILITY_BACKOFF=false), on tables of its own;",
			"did", b.Records)
		pf("  %-17s visibility timeout %s = %d × the %ds function timeout, maxReceiveCount %d", "",
			b.Queue.Visibility, VisibilityTimeoutFactor, Timeout, b.Queue.MaxReceives)
	}
	pf("  %-17s %d orders: enqueue → reserved %s; %d redeliveries (%d visibility changes), %d dead-lettered",
		"with backoff", with.Records, Summarize(with.Latencies), with.Redelivered, with.VisibilityChanges, len(with.DeadLettered))
	pf("  %-17s %d orders: enqueue → reserved %s; %d redeliveries, %d dead-lettered",
		"without backoff", b.Without.Records, Summarize(b.Without.Latencies), b.Without.Redelivered, len(b.Without.DeadLettered))
	pf("  %-17s without it a held record waits out the whole visibility timeout; with it, after about a second, growing with its receive count, at most until the holder's lease can have ended", "shows")
}

// checkBackoff adds the check of the runs without the backoff (and, in a
// pair, with it): each order took effect once, and every order they
// acknowledged is recorded.
func (r *Report) checkBackoff(add func(name string, ok bool, format string, args ...any)) {
	b := r.Backoff
	states := []State{b.State}
	if b.Pair {
		states = append(states, b.WithState)
	}
	ok := true
	units, recorded := int64(0), int64(0)
	missing := 0
	for _, st := range states {
		ok = ok && len(st.SKUs) > 0
		for _, s := range st.SKUs {
			ok = ok && s.EffectOnce()
			units, recorded = units+s.Reserved, recorded+s.RecordedUnits
			for _, id := range s.Missing {
				missing++
				ok = ok && b.Dead[id]
			}
		}
	}
	add("without the visibility backoff too, each order took effect once", ok && recorded > 0,
		"%d/%d units taken for the orders recorded; %s", units, recorded, missingLine(missing, ok))
}
