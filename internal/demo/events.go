package demo

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Samples are the sample events the demo's load is made from: the files of
// events/ that the example functions take.
type Samples struct {
	// SQS are batches for reserve-stock (sqs-*.json but sqs-tenant-*).
	SQS []Sample[events.SQSEvent]
	// Exports is a batch for tenant-exports (sqs-tenant-*.json), the
	// template of the per-tenant limit scene's messages.
	Exports Sample[events.SQSEvent]
	// Accounts are events for account-events (eventbridge-account*.json).
	Accounts []Sample[events.EventBridgeEvent]
	// Schedule is the scheduled event for nightly-rollup (schedule*.json).
	Schedule Sample[events.EventBridgeEvent]
	// Transfers are HTTP API requests for account-transfers
	// (http-api-*.json).
	Transfers []Sample[events.APIGatewayV2HTTPRequest]
}

// Sample is one sample event and the file it came from.
type Sample[T any] struct {
	File  string
	Event T
}

// LoadSamples reads the sample events in dir.
func LoadSamples(dir string) (*Samples, error) {
	s := &Samples{}
	sqs, err := loadAll[events.SQSEvent](dir, "sqs-*.json")
	if err != nil {
		return nil, err
	}
	exports, err := loadAll[events.SQSEvent](dir, exportsPattern)
	if err != nil {
		return nil, err
	}
	sqs = slices.DeleteFunc(sqs, func(sm Sample[events.SQSEvent]) bool {
		ok, _ := filepath.Match(exportsPattern, sm.File)
		return ok
	})
	acc, err := loadAll[events.EventBridgeEvent](dir, "eventbridge-account*.json")
	if err != nil {
		return nil, err
	}
	sched, err := loadAll[events.EventBridgeEvent](dir, "schedule*.json")
	if err != nil {
		return nil, err
	}
	transfers, err := loadAll[events.APIGatewayV2HTTPRequest](dir, "http-api-*.json")
	if err != nil {
		return nil, err
	}
	if len(sqs) == 0 || len(exports) == 0 || len(acc) == 0 || len(sched) == 0 || len(transfers) == 0 {
		return nil, fmt.Errorf("demo: %s lacks sample events: want sqs-*.json, %s, eventbridge-account*.json, schedule*.json and http-api-*.json", dir, exportsPattern)
	}
	s.SQS, s.Exports, s.Accounts, s.Schedule, s.Transfers = sqs, exports[0], acc, sched[0], transfers
	return s, nil
}

// exportsPattern names tenant-exports' sample events, which the SQS
// pattern of reserve-stock's also matches.
const exportsPattern = "sqs-tenant-*.json"

func loadAll[T any](dir, pattern string) ([]Sample[T], error) {
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	sort.Strings(files)
	var out []Sample[T]
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("demo: %s: %w", f, err)
		}
		out = append(out, Sample[T]{File: filepath.Base(f), Event: v})
	}
	return out, nil
}

// tag names a sample file in copied IDs: "sqs-standard.json" → "standard".
func tag(file string) string {
	base := strings.TrimSuffix(file, filepath.Ext(file))
	if i := strings.IndexByte(base, '-'); i >= 0 {
		base = base[i+1:]
	}
	return base
}

// CopySQS returns copy number n of an SQS batch: each record gets its own
// message ID and receipt handle, and its order (the body's "orderId") its
// own ID, so that every copy is a new set of orders with the same SKUs. A
// FIFO record's message group gets the copy's own ID too: no two batches
// then hold one group, so DeliverSQS, which redelivers a batch's failed
// records together and in order, keeps each group's order as SQS does.
func CopySQS(s Sample[events.SQSEvent], n int) (events.SQSEvent, error) {
	suffix := "-" + tag(s.File) + "-" + strconv.Itoa(n)
	out := events.SQSEvent{Records: make([]events.SQSMessage, len(s.Event.Records))}
	for i, r := range s.Event.Records {
		body, err := withField([]byte(r.Body), "orderId", suffix)
		if err != nil {
			return events.SQSEvent{}, fmt.Errorf("demo: %s record %s: %w", s.File, r.MessageId, err)
		}
		r.Body = string(body)
		r.MessageId += suffix
		r.ReceiptHandle += suffix
		attrs := make(map[string]string, len(r.Attributes))
		for k, v := range r.Attributes {
			attrs[k] = v
		}
		for _, k := range []string{"MessageDeduplicationId", "MessageGroupId"} {
			if _, ok := attrs[k]; ok {
				attrs[k] += suffix
			}
		}
		r.Attributes = attrs
		out.Records[i] = r
	}
	return out, nil
}

// CopyEvent returns copy number n of an EventBridge event, with its own
// event ID (and transaction ID, if its detail has one).
func CopyEvent(s Sample[events.EventBridgeEvent], n int) (events.EventBridgeEvent, error) {
	suffix := "-" + tag(s.File) + "-" + strconv.Itoa(n)
	e := s.Event
	e.ID += suffix
	if len(e.Detail) > 0 {
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(e.Detail, &probe); err == nil {
			if _, ok := probe["transactionId"]; ok {
				d, err := withField(e.Detail, "transactionId", suffix)
				if err != nil {
					return events.EventBridgeEvent{}, fmt.Errorf("demo: %s: %w", s.File, err)
				}
				e.Detail = d
			}
		}
	}
	return e, nil
}

// withField returns the JSON object doc with suffix appended to its string
// field name.
func withField(doc []byte, name, suffix string) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	v, ok := m[name].(string)
	if !ok {
		return nil, fmt.Errorf("no string field %q", name)
	}
	m[name] = v + suffix
	return json.Marshal(m)
}
