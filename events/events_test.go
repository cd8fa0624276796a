// Package events_test checks the sample events in this directory: each
// decodes into aws-lambda-go's type for its trigger, strictly, and into
// what the example functions read from it.
package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/examples/shop/stock"
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
			case strings.HasPrefix(f, "sqs-tenant-"):
				checkExports(t, f)
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
			case strings.HasPrefix(f, "http-api-"):
				var e events.APIGatewayV2HTTPRequest
				decode(t, f, &e)
				checkTransfer(t, e.PathParameters["id"], e.Body, e.IsBase64Encoded)
			case strings.HasPrefix(f, "rest-api-"):
				var e events.APIGatewayProxyRequest
				decode(t, f, &e)
				checkTransfer(t, e.PathParameters["id"], e.Body, e.IsBase64Encoded)
			case strings.HasPrefix(f, "function-url-"):
				var e events.LambdaFunctionURLRequest
				decode(t, f, &e)
				checkTransfer(t, "42", e.Body, e.IsBase64Encoded)
			case strings.HasPrefix(f, "alb-"):
				var e events.ALBTargetGroupRequest
				decode(t, f, &e)
				checkTransfer(t, "42", e.Body, e.IsBase64Encoded)
			case strings.HasPrefix(f, "kinesis-"):
				var e events.KinesisEvent
				decode(t, f, &e)
				checkKinesis(t, e)
			case strings.HasPrefix(f, "dynamodb-stream"):
				var e events.DynamoDBEvent
				decode(t, f, &e)
				checkDynamoDBStream(t, e)
				if strings.HasPrefix(f, "dynamodb-stream-stock") {
					checkStockStream(t, e)
				}
			default:
				t.Errorf("no check for %s: name it sqs-tenant-* (tenant-exports), sqs-* (reserve-stock), eventbridge-account*, schedule*, http-api-*, rest-api-*, function-url-*, alb-*, kinesis-* or dynamodb-stream*", f)
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

// checkExports checks an SQS batch of tenant-exports jobs: bodies of a
// tenant and an export ID, two records of one tenant (whose permits they
// share), from a standard queue.
func checkExports(t *testing.T, f string) {
	var e events.SQSEvent
	decode(t, f, &e)
	if len(e.Records) < 2 {
		t.Fatalf("%d records, want a batch", len(e.Records))
	}
	ids := map[string]bool{}
	tenants := map[string]int{}
	for _, r := range e.Records {
		if r.MessageId == "" || ids[r.MessageId] {
			t.Errorf("message ID %q empty or repeated", r.MessageId)
		}
		ids[r.MessageId] = true
		var body struct {
			TenantID string `json:"tenantId"`
			ExportID string `json:"exportId"`
		}
		d := json.NewDecoder(strings.NewReader(r.Body))
		d.DisallowUnknownFields()
		if err := d.Decode(&body); err != nil || body.TenantID == "" || body.ExportID == "" {
			t.Errorf("record %s: body %s, want {\"tenantId\", \"exportId\"}: %v", r.MessageId, r.Body, err)
		}
		tenants[body.TenantID]++
		if r.EventSource != "aws:sqs" || strings.HasSuffix(r.EventSourceARN, ".fifo") {
			t.Errorf("record %s: eventSource %q, queue %s: want a standard queue", r.MessageId, r.EventSource, r.EventSourceARN)
		}
	}
	shared := false
	for _, n := range tenants {
		shared = shared || n > 1
	}
	if !shared {
		t.Errorf("no two records share a tenant: %v", tenants)
	}
}

// checkTransfer checks the body of an account-transfers request for
// account.
func checkTransfer(t *testing.T, account, body string, isBase64 bool) {
	t.Helper()
	if account == "" {
		t.Error("no account in the path")
	}
	if _, err := accounts.TransferFromBody(account, body, isBase64); err != nil {
		t.Errorf("account-transfers cannot use it: %v", err)
	}
}

// checkKinesis checks a Kinesis batch of account transactions: ascending
// sequence numbers, data that names the partition key's account, and a
// partition key shared by two records.
func checkKinesis(t *testing.T, e events.KinesisEvent) {
	t.Helper()
	if len(e.Records) < 2 {
		t.Fatalf("%d records, want a batch", len(e.Records))
	}
	keys := map[string]int{}
	for i, r := range e.Records {
		if i > 0 && !lessSeq(e.Records[i-1].Kinesis.SequenceNumber, r.Kinesis.SequenceNumber) {
			t.Errorf("record %d: sequence number %s not above the previous one", i, r.Kinesis.SequenceNumber)
		}
		tx, err := accounts.ParseTransaction(r.Kinesis.Data)
		if err != nil {
			t.Errorf("record %d: data: %v", i, err)
		}
		if tx.AccountID != r.Kinesis.PartitionKey {
			t.Errorf("record %d: partition key %q, data's account %q", i, r.Kinesis.PartitionKey, tx.AccountID)
		}
		keys[r.Kinesis.PartitionKey]++
		if r.EventSource != "aws:kinesis" {
			t.Errorf("record %d: eventSource %q", i, r.EventSource)
		}
	}
	if len(keys) == len(e.Records) {
		t.Errorf("no two records share a partition key: %v", keys)
	}
}

// checkDynamoDBStream checks a DynamoDB Streams batch of the application
// table: ascending sequence numbers, keys, and both images.
func checkDynamoDBStream(t *testing.T, e events.DynamoDBEvent) {
	t.Helper()
	if len(e.Records) < 2 {
		t.Fatalf("%d records, want a batch", len(e.Records))
	}
	for i, r := range e.Records {
		c := r.Change
		if i > 0 && !lessSeq(e.Records[i-1].Change.SequenceNumber, c.SequenceNumber) {
			t.Errorf("record %d: sequence number %s not above the previous one", i, c.SequenceNumber)
		}
		if c.Keys["Id"].String() == "" || c.NewImage == nil || c.OldImage == nil {
			t.Errorf("record %d: keys %v, images %v / %v", i, c.Keys, c.NewImage, c.OldImage)
		}
		if r.EventSource != "aws:dynamodb" {
			t.Errorf("record %d: eventSource %q", i, r.EventSource)
		}
	}
}

// lessSeq compares decimal sequence numbers.
func lessSeq(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// checkStockStream checks that low-stock-alerts can use every record: a
// SKU key and a NewImage Available.
func checkStockStream(t *testing.T, e events.DynamoDBEvent) {
	t.Helper()
	for i, r := range e.Records {
		if keys, err := stock.SKUKeys(context.Background(), r); err != nil || len(keys) != 1 {
			t.Errorf("record %d: low-stock-alerts' key %v, %v", i, keys, err)
		}
		if r.Change.NewImage["Available"].DataType() != events.DataTypeNumber {
			t.Errorf("record %d: NewImage has no number Available", i)
		}
	}
}
