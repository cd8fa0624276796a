package stack_test

import (
	"slices"
	"testing"

	"github.com/dynalock/dynalock/infra/stack"
)

func TestEventSourceMappings(t *testing.T) {
	// GIVEN the example stack
	f := synth()
	d := templateOf(t, f.tpl)
	esms := queueMappings(d) // the stream's mapping: stream_test.go
	var sources []string
	for _, id := range esms {
		p := d.props(id)
		queue, _, _ := getAtt(p["EventSourceArn"])
		fn, _ := refID(p["FunctionName"])
		sources = append(sources, queue)
		t.Run(queue, func(t *testing.T) {
			// WHEN an event source mapping is examined
			q := d.props(queue)
			// THEN it reports batch item failures
			equal(t, "FunctionResponseTypes", p["FunctionResponseTypes"], []string{"ReportBatchItemFailures"})
			// AND its queue's visibility timeout is at least six function timeouts
			vis := number(t, q["VisibilityTimeout"], "VisibilityTimeout")
			timeout := number(t, d.props(fn)["Timeout"], "function Timeout")
			if vis < 6*timeout {
				t.Errorf("VisibilityTimeout %vs < 6 × function timeout %vs", vis, timeout)
			}
			// AND the queue redrives to a dead-letter queue of its own kind
			redrive, _ := q["RedrivePolicy"].(map[string]any)
			dlq, _, ok := getAtt(redrive["deadLetterTargetArn"])
			if !ok || d.resources[dlq]["Type"] != "AWS::SQS::Queue" {
				t.Fatalf("RedrivePolicy %v names no queue of the stack", q["RedrivePolicy"])
			}
			if n := number(t, redrive["maxReceiveCount"], "maxReceiveCount"); n < 5 {
				t.Errorf("maxReceiveCount %v < 5: throttling alone would dead-letter messages", n)
			}
			equal(t, "DLQ FifoQueue", d.props(dlq)["FifoQueue"], q["FifoQueue"])
		})
	}
	// AND the standard and FIFO queues both feed reserve-stock, ten
	// records a batch, and the exports queue feeds tenant-exports, one
	// export a batch, with more receives before its dead-letter queue
	type feed struct {
		fn          string
		batch       float64
		maxReceives float64
	}
	want := map[string]feed{
		logicalID(t, f.example.Stack, f.example.Queue.QueueArn()):        {stack.ReserveStock, stack.BatchSize, stack.MaxReceiveCount},
		logicalID(t, f.example.Stack, f.example.FifoQueue.QueueArn()):    {stack.ReserveStock, stack.BatchSize, stack.MaxReceiveCount},
		logicalID(t, f.example.Stack, f.example.ExportsQueue.QueueArn()): {stack.TenantExports, stack.ExportsBatchSize, stack.ExportsMaxReceiveCount},
	}
	slices.Sort(sources)
	var wantSources []string
	for q := range want {
		wantSources = append(wantSources, q)
	}
	slices.Sort(wantSources)
	equal(t, "event sources", sources, wantSources)
	equal(t, "FifoQueue of the FIFO queue", d.props(logicalID(t, f.example.Stack, f.example.FifoQueue.QueueArn()))["FifoQueue"], true)
	equal(t, "FifoQueue of the exports queue", d.props(logicalID(t, f.example.Stack, f.example.ExportsQueue.QueueArn()))["FifoQueue"], nil)
	for _, id := range esms {
		p := d.props(id)
		queue, _, _ := getAtt(p["EventSourceArn"])
		w := want[queue]
		fn, _ := refID(p["FunctionName"])
		if fn != logicalID(t, f.example.Stack, f.example.Functions[w.fn].FunctionName()) {
			t.Errorf("%s triggers %s, not %s", id, fn, w.fn)
		}
		equal(t, id+" BatchSize", p["BatchSize"], w.batch)
		redrive, _ := d.props(queue)["RedrivePolicy"].(map[string]any)
		equal(t, queue+" maxReceiveCount", redrive["maxReceiveCount"], w.maxReceives)
	}
}

func TestDeadLetterQueuesHaveAlarms(t *testing.T) {
	f := synth()
	tests := []struct {
		name    string
		doc     doc
		actions any
	}{
		{"without topic", templateOf(t, f.tpl), nil},
		{"with topic", templateOf(t, f.cfgTpl), []string{topicARN}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// GIVEN the stack's dead-letter queues: the targets of redrive
			// policies, asynchronous on-failure destinations and rule DLQs
			d := tt.doc
			dlqs := map[string]bool{}
			for _, id := range d.ofType("AWS::SQS::Queue") {
				if r, ok := d.props(id)["RedrivePolicy"].(map[string]any); ok {
					q, _, _ := getAtt(r["deadLetterTargetArn"])
					dlqs[q] = true
				}
			}
			for _, id := range d.ofType("AWS::Lambda::EventInvokeConfig") {
				dest := d.props(id)["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)["Destination"]
				q, _, _ := getAtt(dest)
				dlqs[q] = true
			}
			for _, id := range d.ofType("AWS::Lambda::EventSourceMapping") {
				if dest, ok := d.props(id)["DestinationConfig"].(map[string]any); ok {
					q, _, _ := getAtt(dest["OnFailure"].(map[string]any)["Destination"])
					dlqs[q] = true
				}
			}
			for _, id := range d.ofType("AWS::Events::Rule") {
				for _, target := range list(d.props(id)["Targets"]) {
					dl, ok := target.(map[string]any)["DeadLetterConfig"].(map[string]any)
					if !ok {
						t.Errorf("rule %s has a target without a dead-letter queue", id)
						continue
					}
					q, _, _ := getAtt(dl["Arn"])
					dlqs[q] = true
				}
			}
			if len(dlqs) != 6 {
				t.Errorf("%d dead-letter queues, want 6 (standard, FIFO, exports, two asynchronous functions, the stream): %v", len(dlqs), dlqs)
			}
			// WHEN the alarms are examined
			alarmed := map[string]int{}
			for _, id := range d.ofType("AWS::CloudWatch::Alarm") {
				p := d.props(id)
				equal(t, id+" MetricName", p["MetricName"], "ApproximateNumberOfMessagesVisible")
				equal(t, id+" Namespace", p["Namespace"], "AWS/SQS")
				equal(t, id+" ComparisonOperator", p["ComparisonOperator"], "GreaterThanOrEqualToThreshold")
				equal(t, id+" Threshold", p["Threshold"], 1)
				equal(t, id+" TreatMissingData", p["TreatMissingData"], "notBreaching")
				equal(t, id+" AlarmActions", p["AlarmActions"], tt.actions)
				equal(t, id+" OKActions", p["OKActions"], tt.actions)
				dims := list(p["Dimensions"])
				if len(dims) != 1 {
					t.Fatalf("%s: dimensions %v", id, dims)
				}
				q, attr, _ := getAtt(dims[0].(map[string]any)["Value"])
				if dims[0].(map[string]any)["Name"] != "QueueName" || attr != "QueueName" {
					t.Errorf("%s: dimension %v is not a queue name", id, dims[0])
				}
				alarmed[q]++
			}
			// THEN every dead-letter queue has exactly one depth alarm, and
			// keeps its messages 14 days
			for q := range dlqs {
				if alarmed[q] != 1 {
					t.Errorf("dead-letter queue %s has %d alarms, want 1", q, alarmed[q])
				}
				equal(t, q+" MessageRetentionPeriod", d.props(q)["MessageRetentionPeriod"], 14*24*3600)
			}
			if len(alarmed) != len(dlqs) {
				t.Errorf("alarms on %v, dead-letter queues %v", alarmed, dlqs)
			}
		})
	}
}

func TestQueuesAreEncryptedAndTLSOnly(t *testing.T) {
	// GIVEN the example stack
	f := synth()
	d := templateOf(t, f.tpl)
	// WHEN its queues and queue policies are examined
	denied := map[string]bool{}
	for _, id := range d.ofType("AWS::SQS::QueuePolicy") {
		doc := d.props(id)["PolicyDocument"].(map[string]any)
		for _, s := range list(doc["Statement"]) {
			st := s.(map[string]any)
			if st["Effect"] == "Deny" && st["Condition"] != nil {
				q, _, _ := getAtt(st["Resource"])
				denied[q] = true
			}
		}
	}
	// THEN each is encrypted with SQS-managed keys and refuses plain HTTP
	queues := d.ofType("AWS::SQS::Queue")
	if len(queues) != 9 {
		t.Errorf("%d queues, want 9: %v", len(queues), queues)
	}
	for _, q := range queues {
		equal(t, q+" SqsManagedSseEnabled", d.props(q)["SqsManagedSseEnabled"], true)
		if !denied[q] {
			t.Errorf("queue %s has no policy denying insecure transport", q)
		}
	}
}
