package demo

import (
	"fmt"
	"io"
)

// printBackoff writes reserve-stock's order latencies with the visibility
// backoff (the locked phase) and without it, side by side.
func (r *Report) printBackoff(w io.Writer) {
	pf := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	b, with := r.Backoff, r.Locked.Stock
	pf("SQS visibility backoff (reserve-stock, the same %d orders; visibility timeout %s = %d × the %ds function timeout, maxReceiveCount %d):",
		with.Records, b.Queue.Visibility, VisibilityTimeoutFactor, Timeout, b.Queue.MaxReceives)
	pf("  %-17s enqueue → reserved %s; %d redeliveries (%d visibility changes), %d dead-lettered",
		"with backoff", Summarize(with.Latencies), with.Redelivered, with.VisibilityChanges, len(with.DeadLettered))
	pf("  %-17s enqueue → reserved %s; %d redeliveries, %d dead-lettered",
		"without backoff", Summarize(b.Without.Latencies), b.Without.Redelivered, len(b.Without.DeadLettered))
}

// checkBackoff adds the checks of the run without the backoff: it too
// reserves every order once and dead-letters nothing.
func (r *Report) checkBackoff(add func(name string, ok bool, format string, args ...any)) {
	b := r.Backoff
	ok := len(b.State.SKUs) > 0
	units, ordered := int64(0), int64(0)
	for _, s := range b.State.SKUs {
		ok = ok && s.OK()
		units, ordered = units+s.Reserved, ordered+s.Ordered
	}
	add("without the visibility backoff too, every order reserved once and none dead-lettered", ok && len(b.Without.DeadLettered) == 0,
		"%d/%d units, %d dead-lettered", units, ordered, len(b.Without.DeadLettered))
}
