package stack_test

import (
	"testing"

	"github.com/aws/jsii-runtime-go"

	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/infra/stack"
)

func TestEventBridgeTriggers(t *testing.T) {
	f := synth()
	d := templateOf(t, f.tpl)
	tests := []struct {
		name     string
		fn       string
		property string // the rule's trigger property
		want     any
	}{
		{"account events rule", stack.AccountEvents, "EventPattern", map[string]any{
			"source":      []string{stack.AccountEventsSource},
			"detail-type": []string{accounts.Credited, accounts.Debited},
			"detail":      map[string]any{"accountId": []any{map[string]any{"exists": true}}},
		}},
		{"nightly schedule", stack.NightlyRollup, "ScheduleExpression", stack.NightlySchedule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// GIVEN the function the rule invokes
			fn := logicalID(t, f.example.Stack, f.example.Functions[tt.fn].FunctionName())
			// WHEN its rules are found
			var rules []string
			for _, id := range d.ofType("AWS::Events::Rule") {
				for _, target := range list(d.props(id)["Targets"]) {
					if got, _, _ := getAtt(target.(map[string]any)["Arn"]); got == fn {
						rules = append(rules, id)
					}
				}
			}
			// THEN one rule, enabled, with the expected trigger, invokes it
			if len(rules) != 1 {
				t.Fatalf("%d rules invoke %s, want 1", len(rules), tt.fn)
			}
			p := d.props(rules[0])
			equal(t, tt.property, p[tt.property], tt.want)
			equal(t, "State", p["State"], "ENABLED")
			// AND EventBridge may invoke the function for that rule only
			var allowed bool
			for _, id := range d.ofType("AWS::Lambda::Permission") {
				pp := d.props(id)
				target, _, _ := getAtt(pp["FunctionName"])
				source, _, _ := getAtt(pp["SourceArn"])
				if target == fn && source == rules[0] && pp["Principal"] == "events.amazonaws.com" {
					allowed = true
				}
			}
			if !allowed {
				t.Errorf("no permission for rule %s to invoke %s", rules[0], fn)
			}
			// AND failed invocations are retried, then sent to a dead-letter queue
			check(t, func() {
				f.tpl.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), &map[string]any{
					"FunctionName":         map[string]any{"Ref": fn},
					"MaximumRetryAttempts": stack.AsyncRetryAttempts,
				})
			})
		})
	}
}

func TestOutputs(t *testing.T) {
	// GIVEN the example stack
	f := synth()
	s := f.example.Stack
	want := map[string]any{
		"LockTableName":                s.Resolve(f.example.LockTable.TableName()),
		"AppTableName":                 s.Resolve(f.example.AppTable.TableName()),
		"QueueUrl":                     s.Resolve(f.example.Queue.QueueUrl()),
		"FifoQueueUrl":                 s.Resolve(f.example.FifoQueue.QueueUrl()),
		"ExportsQueueUrl":              s.Resolve(f.example.ExportsQueue.QueueUrl()),
		"ReserveStockFunctionName":     s.Resolve(f.example.Functions[stack.ReserveStock].FunctionName()),
		"AccountEventsFunctionName":    s.Resolve(f.example.Functions[stack.AccountEvents].FunctionName()),
		"NightlyRollupFunctionName":    s.Resolve(f.example.Functions[stack.NightlyRollup].FunctionName()),
		"AccountTransfersFunctionName": s.Resolve(f.example.Functions[stack.AccountTransfers].FunctionName()),
		"LowStockAlertsFunctionName":   s.Resolve(f.example.Functions[stack.LowStockAlerts].FunctionName()),
		"TenantExportsFunctionName":    s.Resolve(f.example.Functions[stack.TenantExports].FunctionName()),
		"TransfersApiUrl":              s.Resolve(f.example.TransfersStage.Url()),
	}
	for _, q := range f.example.DeadLetterQueues {
		want[*q.Node().Id()+"Url"] = s.Resolve(q.QueueUrl())
	}
	// WHEN its outputs are read
	d := templateOf(t, f.tpl)
	// THEN they name the tables, queues and functions
	for name, value := range want {
		out, ok := d.outputs[name].(map[string]any)
		if !ok {
			t.Errorf("no output %s", name)
			continue
		}
		equal(t, name, out["Value"], value)
	}
	if len(d.outputs) != len(want) {
		t.Errorf("%d outputs, want %d", len(d.outputs), len(want))
	}
}
