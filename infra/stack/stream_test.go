package stack_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/examples/shop/stock"
	"github.com/dynalock/dynalock/infra/stack"
)

// streamReadActions are the actions Lambda's poller needs on a DynamoDB
// stream's ARN (dynamodb:ListStreams, which takes no resource, aside).
var streamReadActions = []string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}

// isStreamRead reports whether st is one of the stream grants of an event
// source: the reads on a table's StreamArn, or ListStreams on "*".
// TestLowStockStream checks them; the table grant tests leave them out.
func isStreamRead(st statement) bool {
	if len(st.resources) != 1 {
		return false
	}
	if slices.Equal(st.actions, []string{"dynamodb:ListStreams"}) {
		return st.resources[0] == "*"
	}
	_, attr, ok := getAtt(st.resources[0])
	return ok && attr == "StreamArn"
}

// queueMappings returns the event source mappings of SQS queues (their
// EventSourceArn a queue's Arn), leaving out the stream's.
func queueMappings(d doc) []string {
	var ids []string
	for _, id := range d.ofType("AWS::Lambda::EventSourceMapping") {
		if _, attr, _ := getAtt(d.props(id)["EventSourceArn"]); attr == "Arn" {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestLowStockStream(t *testing.T) {
	// GIVEN the example stack
	f := synth()
	d := templateOf(t, f.tpl)
	app := logicalID(t, f.example.Stack, f.example.AppTable.TableName())
	fn := logicalID(t, f.example.Stack, f.example.Functions[stack.LowStockAlerts].FunctionName())
	role := logicalID(t, f.example.Stack, f.example.Functions[stack.LowStockAlerts].Role().RoleName())

	// WHEN the application table and its stream's mapping are examined
	// THEN the table streams both images, which Alerter reads
	spec, _ := d.props(app)["StreamSpecification"].(map[string]any)
	equal(t, "StreamViewType", spec["StreamViewType"], "NEW_AND_OLD_IMAGES")
	var mappings []string
	for _, id := range d.ofType("AWS::Lambda::EventSourceMapping") {
		if table, attr, _ := getAtt(d.props(id)["EventSourceArn"]); table == app && attr == "StreamArn" {
			mappings = append(mappings, id)
		}
	}
	if len(mappings) != 1 {
		t.Fatalf("%d mappings of the application table's stream, want 1", len(mappings))
	}
	p := d.props(mappings[0])
	// AND it invokes low-stock-alerts only, from the oldest record
	if got, _ := refID(p["FunctionName"]); got != fn {
		t.Errorf("the stream triggers %v, want %s", p["FunctionName"], fn)
	}
	equal(t, "StartingPosition", p["StartingPosition"], "TRIM_HORIZON")
	equal(t, "BatchSize", p["BatchSize"], stack.AlertsBatchSize)
	// AND it checkpoints at the first failed record, halves failing
	// batches, and gives up after a bounded number of retries (-1, the
	// default, retries until the record expires and blocks the shard)
	equal(t, "FunctionResponseTypes", p["FunctionResponseTypes"], []string{"ReportBatchItemFailures"})
	equal(t, "BisectBatchOnFunctionError", p["BisectBatchOnFunctionError"], true)
	if n := number(t, p["MaximumRetryAttempts"], "MaximumRetryAttempts"); n < 1 || n > 10 || n != stack.AlertsRetryAttempts {
		t.Errorf("MaximumRetryAttempts %v, want %d, between 1 and 10", n, stack.AlertsRetryAttempts)
	}
	equal(t, "MaximumRecordAgeInSeconds", p["MaximumRecordAgeInSeconds"], stack.AlertsMaxRecordAge.Seconds())
	// AND what it gives up on goes to an SQS queue of the stack
	dest, _ := p["DestinationConfig"].(map[string]any)
	onFailure, _ := dest["OnFailure"].(map[string]any)
	queue, attr, ok := getAtt(onFailure["Destination"])
	if !ok || attr != "Arn" || d.resources[queue]["Type"] != "AWS::SQS::Queue" || !strings.HasPrefix(queue, stack.AlertsFailureQueueID) {
		t.Fatalf("on-failure destination %v, want the %s queue", onFailure["Destination"], stack.AlertsFailureQueueID)
	}
	// AND only SKU items' records reach the function
	filters, _ := json.Marshal(p["FilterCriteria"])
	wantFilter := `{\"dynamodb\":{\"Keys\":{\"` + appdata.PartitionKey + `\":{\"S\":[{\"prefix\":\"` + stock.ID("") + `\"}]}}}}`
	if !strings.Contains(string(filters), wantFilter) {
		t.Errorf("FilterCriteria %s, want the pattern %s", filters, wantFilter)
	}

	// WHEN the IAM statements are examined
	// THEN only low-stock-alerts may read streams: the reads on this
	// stream's ARN, ListStreams (no resource) and nothing else
	var reads [][]string
	for _, st := range d.statements(t) {
		if !isStreamRead(st) && !slices.ContainsFunc(st.actions, func(a string) bool {
			return strings.HasPrefix(a, "dynamodb:") && (strings.Contains(a, "Stream") || a == "dynamodb:GetRecords")
		}) {
			continue
		}
		if !slices.Equal(st.roles, []string{role}) {
			t.Errorf("stream statement %v on roles %v, want %s's only", st, st.roles, stack.LowStockAlerts)
		}
		if !isStreamRead(st) {
			t.Errorf("stream statement %v: want the stream reads on the StreamArn or ListStreams", st)
			continue
		}
		if table, _, _ := getAtt(st.resources[0]); st.resources[0] != "*" && table != app {
			t.Errorf("stream statement %v on another table's stream", st)
		}
		a := slices.Clone(st.actions)
		slices.Sort(a)
		reads = append(reads, a)
	}
	slices.SortFunc(reads, func(a, b []string) int { return strings.Compare(strings.Join(a, ","), strings.Join(b, ",")) })
	equal(t, "stream actions", reads, [][]string{streamReadActions, {"dynamodb:ListStreams"}})
	// AND it may send to its on-failure queue
	var sends bool
	for _, st := range d.statements(t) {
		if q, _, _ := getAtt(st.resources[0]); q == queue && slices.Contains(st.roles, role) && slices.Contains(st.actions, "sqs:SendMessage") {
			sends = true
		}
	}
	if !sends {
		t.Errorf("%s may not send to %s", stack.LowStockAlerts, queue)
	}
}
