package demo

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynalock/dynalock/lock"
)

func TestCopySQS(t *testing.T) {
	s := Sample[events.SQSEvent]{File: "sqs-fifo.json", Event: events.SQSEvent{Records: []events.SQSMessage{{
		MessageId:  "m-1",
		Body:       `{"orderId":"o-1","sku":"MUG","quantity":2}`,
		Attributes: map[string]string{"MessageGroupId": "g", "MessageDeduplicationId": "d-1"},
	}}}}
	got, err := CopySQS(s, 3)
	if err != nil {
		t.Fatal(err)
	}
	r := got.Records[0]
	if r.MessageId != "m-1-fifo-3" || r.Attributes["MessageDeduplicationId"] != "d-1-fifo-3" || r.Attributes["MessageGroupId"] != "g-fifo-3" {
		t.Errorf("copy = %+v", r)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatal(err)
	}
	if body["orderId"] != "o-1-fifo-3" || body["sku"] != "MUG" || body["quantity"] != 2.0 {
		t.Errorf("copied body = %s", r.Body)
	}
	if s.Event.Records[0].Attributes["MessageDeduplicationId"] != "d-1" {
		t.Error("CopySQS changed the sample's attributes")
	}
}

// A copy has its own event ID, and its own transaction ID if the detail
// names one.
func TestCopyEvent(t *testing.T) {
	tests := []struct {
		detail, want string
	}{
		{detail: `{"accountId":"42","amount":10}`, want: `{"accountId":"42","amount":10}`},
		{detail: `{"accountId":"42","amount":10,"transactionId":"tx"}`, want: `{"accountId":"42","amount":10,"transactionId":"tx-account-credited-2"}`},
	}
	for _, tt := range tests {
		s := Sample[events.EventBridgeEvent]{File: "eventbridge-account-credited.json", Event: events.EventBridgeEvent{ID: "e", Detail: json.RawMessage(tt.detail)}}
		got, err := CopyEvent(s, 2)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != "e-account-credited-2" || string(got.Detail) != tt.want {
			t.Errorf("copy of %s: ID %q, detail %s; want e-account-credited-2, %s", tt.detail, got.ID, got.Detail, tt.want)
		}
	}
}

func TestRedelivered(t *testing.T) {
	r := events.SQSMessage{MessageId: "m", Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
	again := redelivered(redelivered(r))
	if receives(again) != 3 || receives(r) != 1 || again.ReceiptHandle == r.ReceiptHandle {
		t.Errorf("twice redelivered: %+v (original %+v)", again, r)
	}
}

// Output lines arrive in pieces; every EMF line counts once, others none.
func TestLineWriterMetrics(t *testing.T) {
	var log strings.Builder
	var m Metrics
	w := &lineWriter{log: &log, m: &m}
	out := `START RequestId: 1
{"time":"t","level":"INFO","msg":"order handled"}
{"Contended":2,"FailedRecords":3,"Skipped":1,"ReleaseFailures":0,"_aws":{"Timestamp":1}}
{"Contended":1,"FailedRecords":0,"Skipped":0,"ReleaseFailures":1,"_aws":{"Timestamp":2}}
`
	for i := 0; i < len(out); i += 7 {
		if _, err := w.Write([]byte(out[i:min(i+7, len(out))])); err != nil {
			t.Fatal(err)
		}
	}
	if log.String() != out {
		t.Errorf("log = %q, want the output unchanged", log.String())
	}
	if m.Contended.Load() != 3 || m.FailedRecords.Load() != 3 || m.Skipped.Load() != 1 || m.ReleaseFailures.Load() != 1 {
		t.Errorf("metrics = %d contended, %d failed, %d skipped, %d release failures; want 3, 3, 1, 1",
			m.Contended.Load(), m.FailedRecords.Load(), m.Skipped.Load(), m.ReleaseFailures.Load())
	}
}

func TestCents(t *testing.T) {
	for c, want := range map[int64]string{0: "$0.00", 5: "$0.05", 123456: "$1234.56", -250: "-$2.50"} {
		if got := cents(c); got != want {
			t.Errorf("cents(%d) = %q, want %q", c, got, want)
		}
	}
}

// The report's tolerance is the one the functions' lock clients run with:
// lock.Config's default clock-skew tolerance.
func TestToleranceIsTheLockDefault(t *testing.T) {
	c, err := lock.NewClient(context.Background(), lock.Config{TableName: "locks", DynamoDB: dynamodb.New(dynamodb.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Config().ClockSkewTolerance; got != tolerance {
		t.Errorf("lock.Config's default clock-skew tolerance is %s; the demo reports %s", got, tolerance)
	}
}
