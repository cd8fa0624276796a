package stack_test

import (
	"strconv"
	"testing"

	"github.com/dynalock/dynalock/infra/stack"
)

func TestFunctions(t *testing.T) {
	f := synth()
	d := templateOf(t, f.tpl)
	lockTable := f.example.Stack.Resolve(f.example.LockTable.TableName())
	appTable := f.example.Stack.Resolve(f.example.AppTable.TableName())
	if got := d.ofType("AWS::Lambda::Function"); len(got) != len(stack.FunctionNames()) {
		t.Errorf("%d functions (%v), want only the %d example functions", len(got), got, len(stack.FunctionNames()))
	}
	// Each function's variables beyond the two table names.
	extra := map[string]map[string]any{
		stack.TenantExports: {stack.EnvTenantPermits: strconv.Itoa(stack.TenantPermits)},
	}
	for _, name := range stack.FunctionNames() {
		t.Run(name, func(t *testing.T) {
			// GIVEN an example function
			id := logicalID(t, f.example.Stack, f.example.Functions[name].FunctionName())
			// WHEN synthesized
			p := d.props(id)
			// THEN it is a provided.al2023 arm64 bootstrap with both table
			// names in its environment (tenant-exports: and its permits per
			// tenant) and a log group with retention
			equal(t, "Runtime", p["Runtime"], "provided.al2023")
			equal(t, "Architectures", p["Architectures"], []string{"arm64"})
			equal(t, "Handler", p["Handler"], "bootstrap")
			vars := map[string]any{stack.EnvLockTable: lockTable, stack.EnvAppTable: appTable}
			for k, v := range extra[name] {
				vars[k] = v
			}
			equal(t, "Environment", p["Environment"], map[string]any{"Variables": vars})
			if number(t, p["Timeout"], "Timeout") <= 0 {
				t.Errorf("Timeout %v", p["Timeout"])
			}
			logs, ok := refID(p["LoggingConfig"].(map[string]any)["LogGroup"])
			if !ok || d.resources[logs]["Type"] != "AWS::Logs::LogGroup" {
				t.Fatalf("LoggingConfig %v does not name a log group of the stack", p["LoggingConfig"])
			}
			equal(t, "RetentionInDays", d.props(logs)["RetentionInDays"], 30)
		})
	}
}
