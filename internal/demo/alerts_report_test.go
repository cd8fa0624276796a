package demo

import (
	"testing"

	"github.com/dynalock/dynalock/examples/shop/stock"
)

// The alerts check passes only when the SKUs below the threshold, and
// they alone, have an open alert raised once.
func TestCheckAlerts(t *testing.T) {
	open := func(sku string, raised int64) stock.Alert {
		return stock.Alert{SKU: sku, Status: stock.AlertOpen, Raised: raised}
	}
	tests := []struct {
		name   string
		alerts []stock.Alert
		want   bool
	}{
		{"the low SKU alerted once", []stock.Alert{open("LOW", 1)}, true},
		{"no alert for the low SKU", nil, false},
		{"the low SKU alerted twice", []stock.Alert{open("LOW", 2)}, false},
		{"the low SKU's alert cleared", []stock.Alert{{SKU: "LOW", Status: stock.AlertCleared, Raised: 1}}, false},
		{"an alert for the SKU above", []stock.Alert{open("LOW", 1), open("HIGH", 1)}, false},
		{"an alert for an unknown SKU", []stock.Alert{open("LOW", 1), open("GONE", 1)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{Locked: &Phase{State: State{SKUs: []SKUState{{SKU: "HIGH", Available: 10}, {SKU: "LOW", Available: 4}}}},
				Alerts: AlertsResult{Threshold: 5, Alerts: tt.alerts, Stream: StreamResult{Records: 3}}}
			var got Check
			r.checkAlerts(func(name string, ok bool, format string, args ...any) { got = Check{Name: name, OK: ok} })
			if got.OK != tt.want {
				t.Errorf("check OK = %v, want %v", got.OK, tt.want)
			}
		})
	}
}
