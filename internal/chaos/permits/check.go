package permits

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Rules the check applies.
const (
	RuleAtMostN   = "at-most-n"     // never more than N holders inside their exclusive time at once
	RuleTokenOnce = "token-once"    // no token handed out twice for one ID
	RuleHolder    = "holder-tokens" // each holder's tokens of one ID increase
	RuleOrder     = "token-order"   // a token granted after another was seen is greater
	RuleLedger    = "ledger"        // lease-checked writes applied = acknowledged (+ unknown at most)
	RuleHistory   = "history"       // the history is whole
)

// Report is what the check found.
type Report struct {
	Permits    int
	Sections   int // entries
	Died       int
	Writes     map[string]int // by result
	MaxInside  map[string]int // most holders inside at once, per lock
	AtFull     int            // entries that found N-1 others inside (the limit was used)
	Violations []string
}

func (r *Report) violate(rule, format string, args ...any) {
	r.Violations = append(r.Violations, rule+": "+fmt.Sprintf(format, args...))
}

// lease is one holder's permit as the history tells it.
type lease struct {
	holder, call int
	lock, id     string
	token        int64
	called       int64 // when its acquire began
	enter, end   int64 // its exclusive time
}

// Check judges a history.
func Check(events []Event) *Report {
	r := &Report{Writes: map[string]int{}, MaxInside: map[string]int{}}
	if len(events) == 0 || events[0].Kind != KindRun {
		r.violate(RuleHistory, "no run line first")
		return r
	}
	r.Permits = events[0].Permits
	called := map[int]int64{}
	leases := map[string]*lease{}
	var order []*lease
	acked := map[string]int64{}
	unknown := map[string]int64{}
	var end *Event
	for i := range events {
		e := &events[i]
		k := e.Lock + "\x00" + e.Lease
		switch e.Kind {
		case KindCall:
			called[e.Call] = e.Time
		case KindEnter:
			l := &lease{holder: e.Holder, call: e.Call, lock: e.Lock, id: e.Lease, token: e.Token, called: called[e.Call], enter: e.Time, end: 1<<63 - 1}
			if e.Until > 0 {
				l.end = e.Until
			}
			leases[k] = l
			order = append(order, l)
		case KindExit, KindCtxDone, KindDie:
			l := leases[k]
			if l == nil {
				r.violate(RuleHistory, "%s of a lease never entered: %s %s", e.Kind, e.Lock, e.Lease)
				continue
			}
			t := e.Time
			if e.Kind == KindDie {
				t = e.Until
				r.Died++
			}
			l.end = min(l.end, t)
		case KindWrite:
			r.Writes[e.Result]++
			switch e.Result {
			case "ok":
				acked[e.Lock]++
			case "error":
				unknown[e.Lock]++
			}
		case KindEnd:
			end = e
		}
	}
	r.Sections = len(order)
	if end == nil {
		r.violate(RuleHistory, "no end line: the run did not finish")
	}
	for _, l := range order {
		if l.end == 1<<63-1 {
			r.violate(RuleHistory, "lock %q: lease %s of holder %d never ended", l.lock, l.id, l.holder)
			l.end = l.enter
		}
	}
	r.atMostN(order)
	r.tokens(order)
	if end != nil {
		for id, n := range end.Counters {
			if n < acked[id] || n > acked[id]+unknown[id] {
				r.violate(RuleLedger, "lock %q: the counter is %d, with %d writes acknowledged and %d unknown", id, n, acked[id], unknown[id])
			}
		}
		for id, n := range acked {
			if _, ok := end.Counters[id]; !ok && n > 0 {
				r.violate(RuleLedger, "lock %q: no counter, with %d writes acknowledged", id, n)
			}
		}
	}
	return r
}

// atMostN sweeps each lock's exclusive times.
func (r *Report) atMostN(order []*lease) {
	type edge struct {
		t     int64
		delta int
		l     *lease
	}
	byLock := map[string][]edge{}
	for _, l := range order {
		if l.end <= l.enter {
			continue // entered with no time left: never inside
		}
		byLock[l.lock] = append(byLock[l.lock], edge{l.enter, 1, l}, edge{l.end, -1, l})
	}
	for id, es := range byLock {
		sort.Slice(es, func(i, j int) bool {
			if es[i].t != es[j].t {
				return es[i].t < es[j].t
			}
			return es[i].delta < es[j].delta // leaving before entering
		})
		inside := map[*lease]bool{}
		for _, e := range es {
			if e.delta < 0 {
				delete(inside, e.l)
				continue
			}
			inside[e.l] = true
			n := len(inside)
			r.MaxInside[id] = max(r.MaxInside[id], n)
			if n == r.Permits {
				r.AtFull++
			}
			if n > r.Permits {
				var who []string
				for l := range inside {
					who = append(who, fmt.Sprintf("holder %d token %d (%s-%s)", l.holder, l.token, clock(l.enter), clock(l.end)))
				}
				sort.Strings(who)
				r.violate(RuleAtMostN, "lock %q: %d holders inside at %s, more than %d permits: %s", id, n, clock(e.t), r.Permits, strings.Join(who, ", "))
			}
		}
	}
}

// tokens checks that tokens are unique per lock, increase per holder, and
// follow real time: an acquire begun after a grant was seen gets more.
func (r *Report) tokens(order []*lease) {
	seen := map[string]map[int64]*lease{}
	last := map[[2]any]int64{}
	byLock := map[string][]*lease{}
	for _, l := range order {
		if seen[l.lock] == nil {
			seen[l.lock] = map[int64]*lease{}
		}
		if o := seen[l.lock][l.token]; o != nil {
			r.violate(RuleTokenOnce, "lock %q: token %d handed to holder %d and holder %d", l.lock, l.token, o.holder, l.holder)
		}
		seen[l.lock][l.token] = l
		k := [2]any{l.lock, l.holder}
		if p, ok := last[k]; ok && l.token <= p {
			r.violate(RuleHolder, "lock %q: holder %d got token %d after %d", l.lock, l.holder, l.token, p)
		}
		last[k] = l.token
		byLock[l.lock] = append(byLock[l.lock], l)
	}
	for id, ls := range byLock {
		byEnter := append([]*lease(nil), ls...)
		sort.Slice(byEnter, func(i, j int) bool { return byEnter[i].enter < byEnter[j].enter })
		prefixMax := make([]int64, len(byEnter))
		for i, l := range byEnter {
			prefixMax[i] = l.token
			if i > 0 {
				prefixMax[i] = max(prefixMax[i], prefixMax[i-1])
			}
		}
		for _, l := range ls {
			i := sort.Search(len(byEnter), func(i int) bool { return byEnter[i].enter >= l.called }) - 1
			if i >= 0 && prefixMax[i] >= l.token {
				r.violate(RuleOrder, "lock %q: holder %d's acquire began at %s, after token %d was granted, and got token %d", id, l.holder, clock(l.called), prefixMax[i], l.token)
			}
		}
	}
}

func clock(ns int64) string { return time.Unix(0, ns).UTC().Format("15:04:05.000000") }

// String is the report as the command prints it.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "permits: %d permits per lock ID; %d sections (%d holders died holding a permit); most inside at once %v; %d entries found the other N-1 inside\n",
		r.Permits, r.Sections, r.Died, r.MaxInside, r.AtFull)
	fmt.Fprintf(&b, "permits: lease-checked writes %v\n", r.Writes)
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "VIOLATION %s\n", v)
	}
	fmt.Fprintf(&b, "permits: %d violations\n", len(r.Violations))
	return b.String()
}
