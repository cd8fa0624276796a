package demo

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestCount(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"one", count(1, "account", "accounts"), "1 account"},
		{"none", count(0, "run", "runs"), "0 runs"},
		{"many, int64", count(int64(12), "batch", "batches"), "12 batches"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// TestInvokeWrongEvent: make invoke with an event of another kind says
// which kind the function takes, before it starts anything.
func TestInvokeWrongEvent(t *testing.T) {
	tests := []struct {
		name, fn, file string
		want           []string
	}{
		{"SQS to account-events", AccountEvents, "../../events/sqs-fifo.json",
			[]string{"sqs-fifo.json is not an event for account-events", "no detail-type", "events/eventbridge-account.json"}},
		{"EventBridge to reserve-stock", ReserveStock, "../../events/eventbridge-account.json",
			[]string{"not an event for reserve-stock", "no Records", "events/sqs-standard.json"}},
		{"account event to nightly-rollup", NightlyRollup, "../../events/eventbridge-account.json",
			[]string{"not an event for nightly-rollup", `"Scheduled Event"`, "events/schedule.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := InvokeOnce(context.Background(), Config{}, tt.fn, tt.file, io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "event :") || strings.Contains(err.Error(), "<nil>") {
				t.Errorf("error %q has an empty field", err)
			}
		})
	}
}
