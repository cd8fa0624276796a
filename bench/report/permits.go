package report

import "fmt"

// permits adds the rows of BenchmarkPermits: a lock ID of N permits
// (lock.WithPermits) at N = 1, 4 and 16, with N-1 held by others.
func (t *table) permits() {
	for _, n := range []int{1, 4, 16} {
		name := fmt.Sprintf("Permits/permits=%d", n)
		r := Row{Measure: fmt.Sprintf("%d permit%s, N-1 held: requests (write units) of an acquire, a release, an attempt refused when all are held, a lapsed permit's takeover; item bytes",
			n, plural(n)), Floor: none, Minimal: none, Peer: none, Target: "acquire 1 request, release 1"}
		acq, ok1 := t.get(name, "acquire-req")
		rel, ok2 := t.get(name, "release-req")
		r.DynaLock = na
		if ok1 && ok2 {
			r.DynaLock = fmt.Sprintf("acquire %s; release %s; refused %s; takeover %s; %s bytes",
				t.reqUnits(name, "acquire"), t.reqUnits(name, "release"), t.reqUnits(name, "contended"),
				t.reqUnits(name, "takeover"), t.num(name, "item-bytes"))
			r.Met = met(acq == 1 && rel == 1)
		}
		t.add(r)
	}
	r := Row{Measure: "A waiter on a full semaphore (WithWait, default steps), per minute: requests (write units) at N = 1, 4, 16",
		Floor: none, Minimal: none, Peer: none}
	r.DynaLock = ""
	for i, n := range []int{1, 4, 16} {
		name := fmt.Sprintf("Permits/permits=%d", n)
		if i > 0 {
			r.DynaLock += "; "
		}
		req, ok1 := t.get(name, "waiter-requests/min")
		w, ok2 := t.get(name, "waiter-wcu/min")
		if ok1 && ok2 {
			r.DynaLock += fmt.Sprintf("N=%d: %s (%s)", n, sig(req), sig(w))
		} else {
			r.DynaLock += fmt.Sprintf("N=%d: %s", n, na)
		}
	}
	t.add(r)
}

// reqUnits formats an operation's requests and write units, the refused
// condition's computed units added.
func (t *table) reqUnits(name, op string) string {
	req, ok1 := t.get(name, op+"-req")
	w, ok2 := t.get(name, op+"-wcu")
	if !ok1 || !ok2 {
		return na
	}
	cw, _ := t.get(name, op+"-computed-wcu")
	return fmt.Sprintf("%s (%s)", sig(req), sig(w+cw))
}
