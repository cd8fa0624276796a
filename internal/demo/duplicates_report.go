package demo

import (
	"fmt"
	"io"
)

// checkDuplicates adds the duplicates scenario's checks: with idempotency,
// every order and event had its effect once, and duplicates were answered
// from the store with the first delivery's output.
func (r *Report) checkDuplicates(add func(name string, ok bool, format string, args ...any)) {
	d := r.Duplicates
	if d == nil {
		return
	}
	u := Unprocessed{Orders: d.Unacked, Transactions: d.Unacked}
	missing, ok := u.Acknowledged(d.State)
	recorded := 0
	for _, s := range d.State.SKUs {
		ok = ok && s.EffectOnce()
		recorded += s.Recorded
	}
	for _, a := range d.State.Accounts {
		ok = ok && a.EffectOnce()
	}
	add("duplicated orders and events took effect once each (idempotency)", ok && recorded > 0,
		"%s in %s, %s in %s; %s", count(d.Orders, "order", "orders"), count(d.OrderDeliveries, "delivery", "deliveries"),
		count(d.Events, "event", "events"), count(d.EventDeliveries, "delivery", "deliveries"), missingLine(missing, ok))
	add("duplicates answered from the store with the first delivery's output",
		d.Answered[ReserveStock] > 0 && d.Answered[AccountEvents] > 0 && d.SameAnswers == d.AccountAnswers,
		"reserve-stock %d, account-events %d answered; %d of %d account-events duplicates got the first output",
		d.Answered[ReserveStock], d.Answered[AccountEvents], d.SameAnswers, d.AccountAnswers)
}

// printDuplicates writes the duplicates scenario: what idempotency did,
// what each step cost in requests, and the double effects without it.
func (r *Report) printDuplicates(w io.Writer) {
	d, off := r.Duplicates, r.DuplicatesOff
	if d == nil || off == nil {
		return
	}
	pf := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	pf("  %-17s orders and account events of their own, each delivered 2-3 times (some at once, some after the first finished), with idempotency and without (DYNALOCK_IDEMPOTENCY=false), side by side", "did")
	pf("  %-17s %s in %s: each reserved once; %d duplicates acknowledged from the store", ReserveStock,
		count(d.Orders, "order", "orders"), count(d.OrderDeliveries, "delivery", "deliveries"), d.Answered[ReserveStock])
	pf("  %-17s %s in %s: each applied once; %d duplicates answered with the first delivery's output", AccountEvents,
		count(d.Events, "event", "events"), count(d.EventDeliveries, "delivery", "deliveries"), d.Answered[AccountEvents])
	pf("  %-17s new order: %s", "requests/event", requests(d.NewOrder))
	pf("  %-17s duplicate of a completed order: %s", "", requests(d.DupOrder))
	pf("  %-17s new account event: %s", "", requests(d.NewEvent))
	pf("  %-17s duplicate of a completed event: %s", "", requests(d.DupEvent))
	pf("  %-17s (claim and entity lock in one round trip; the effect and the completion one TransactWriteItems)", "")
	doubled := false
	for _, s := range off.State.SKUs {
		if s.Reserved != s.Ordered {
			doubled = true
			pf("  %-17s without idempotency, %s: %s for %s, but %d units reserved: %s taken twice or more", "DOUBLE EFFECTS", s.SKU,
				count(s.Orders, "order", "orders"), count(s.Ordered, "unit", "units"), s.Reserved, count(s.Reserved-s.Ordered, "unit", "units"))
		}
	}
	for _, a := range off.State.Accounts {
		if a.Balance != a.Expected {
			doubled = true
			pf("  %-17s without idempotency, account %s: %s, balance %s, should be %s", "DOUBLE EFFECTS", a.Account,
				count(a.Transactions, "transaction", "transactions"), cents(a.Balance), cents(a.Expected))
		}
	}
	if !doubled {
		pf("  %-17s without idempotency: no double effect this time (a matter of timing)", "DOUBLE EFFECTS")
	}
	pf("  %-17s SQS and EventBridge deliver at least once; with idempotency a duplicate costs a read or two, not a second effect", "shows")
}
