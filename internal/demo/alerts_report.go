package demo

import (
	"fmt"
	"strings"

	"github.com/dynalock/dynalock/examples/shop/stock"
)

// alertsLine is low-stock-alerts' line of the locked phase: what the
// stream delivery cost, and the SKUs alerts were raised for.
func (r *Report) alertsLine() string {
	a := r.Alerts
	s := a.Stream
	var skus []string
	once := true
	for _, al := range a.Alerts {
		if al.Raised > 0 {
			skus = append(skus, al.SKU)
		}
		once = once && al.Raised == 1
	}
	raised := "once each"
	if !once {
		raised = "SOME MORE THAN ONCE"
	}
	return fmt.Sprintf("%s in %s: %s; alerts raised for [%s] %s; %s retried (SKU locked: %s), at most %s one record",
		count(s.Records, "stream record", "stream records"), count(s.Batches, "batch", "batches"), count(s.Invocations, "invocation", "invocations"),
		strings.Join(skus, " "), raised, count(s.Retried, "record", "records"), count(a.Metrics.Contended, "time", "times"), count(s.MaxRetries, "time", "times"))
}

// checkAlerts adds low-stock-alerts' check: every SKU whose final
// Available is below the threshold has one open alert, raised once
// (stock only falls in the demo, so a second raise would be a duplicate),
// and no other SKU has an alert item.
func (r *Report) checkAlerts(add func(name string, ok bool, format string, args ...any)) {
	a := r.Alerts
	items := map[string]stock.Alert{}
	for _, al := range a.Alerts {
		items[al.SKU] = al
	}
	ok := len(r.Locked.State.SKUs) > 0 && a.Stream.Records > 0
	var low, above []string
	for _, s := range r.Locked.State.SKUs {
		al, has := items[s.SKU]
		delete(items, s.SKU)
		switch below := s.Available < a.Threshold; {
		case below && (!has || al.Status != stock.AlertOpen || al.Raised != 1):
			ok = false
			low = append(low, fmt.Sprintf("%s at %d: alert %s raised %d times (WANT open, once)", s.SKU, s.Available, al.Status, al.Raised))
		case below:
			low = append(low, fmt.Sprintf("%s at %d", s.SKU, s.Available))
		case has:
			ok = false
			above = append(above, fmt.Sprintf("%s at %d HAS AN ALERT (%s)", s.SKU, s.Available, al.Status))
		default:
			above = append(above, fmt.Sprintf("%s at %d", s.SKU, s.Available))
		}
	}
	for sku := range items {
		ok = false
		above = append(above, fmt.Sprintf("%s (no such SKU) HAS AN ALERT", sku))
	}
	add("one low-stock alert for each SKU below the threshold, raised once; none for the others", ok,
		"threshold %d; alerted: %s; not: %s", a.Threshold, orNone(low), orNone(above))
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
