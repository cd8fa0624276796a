// Package events_test checks the sample events in this directory: each
// decodes into aws-lambda-go's type for its trigger, strictly, and into
// what the example functions read from it.
package events_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/internal/accounts"
	"github.com/dynalock/dynalock/internal/stock"
)

// decode decodes the file strictly: a field that the type lacks, such as a
// misspelt one, fails.
func decode(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if d.More() {
		t.Fatalf("%s: data after the event", path)
	}
}

func TestSampleEvents(t *testing.T) {
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no sample events")
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			switch {
			case strings.HasPrefix(f, "sqs-"):
				checkSQS(t, f)
			case strings.HasPrefix(f, "eventbridge-account"):
				var e events.EventBridgeEvent
				decode(t, f, &e)
				if _, err := accounts.FromEvent(e); err != nil {
					t.Errorf("account-events cannot use it: %v", err)
				}
			case strings.HasPrefix(f, "schedule"):
				var e events.EventBridgeEvent
				decode(t, f, &e)
				if e.DetailType != "Scheduled Event" || e.Source != "aws.events" || len(e.Resources) == 0 {
					t.Errorf("not a scheduled event: detail-type %q, source %q, resources %q", e.DetailType, e.Source, e.Resources)
				}
			default:
				t.Errorf("no check for %s: name it sqs-*, eventbridge-account* or schedule*", f)
			}
		})
	}
}

// checkSQS checks an SQS batch of reserve-stock orders whose records share
// SKUs, and on a FIFO queue carry message groups.
func checkSQS(t *testing.T, f string) {
	var e events.SQSEvent
	decode(t, f, &e)
	if len(e.Records) < 2 {
		t.Fatalf("%d records, want a batch", len(e.Records))
	}
	fifo := strings.Contains(f, "fifo")
	ids := map[string]bool{}
	skus := map[string]int{}
	for _, r := range e.Records {
		if r.MessageId == "" || ids[r.MessageId] {
			t.Errorf("message ID %q empty or repeated", r.MessageId)
		}
		ids[r.MessageId] = true
		o, err := stock.ParseOrder(r.Body)
		if err != nil {
			t.Errorf("record %s: reserve-stock cannot use its body: %v", r.MessageId, err)
		}
		skus[o.SKU]++
		if r.EventSource != "aws:sqs" {
			t.Errorf("record %s: eventSource %q, want aws:sqs", r.MessageId, r.EventSource)
		}
		if got := strings.HasSuffix(r.EventSourceARN, ".fifo"); got != fifo {
			t.Errorf("record %s: queue ARN %s, FIFO %v", r.MessageId, r.EventSourceARN, fifo)
		}
		if _, ok := r.Attributes["MessageGroupId"]; ok != fifo {
			t.Errorf("record %s: MessageGroupId present %v, FIFO %v", r.MessageId, ok, fifo)
		}
	}
	shared := false
	for _, n := range skus {
		shared = shared || n > 1
	}
	if !shared {
		t.Errorf("no two records share a SKU: %v", skus)
	}
}
