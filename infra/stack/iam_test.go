package stack_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/examples/shop/rollup"
	"github.com/dynalock/dynalock/examples/shop/stock"
	"github.com/dynalock/dynalock/infra/locktable"
	"github.com/dynalock/dynalock/infra/stack"
)

// storeActions returns the DynamoDB actions of an API interface: its
// methods' names, prefixed with "dynamodb:".
func storeActions[API any]() []string {
	typ := reflect.TypeFor[API]()
	var out []string
	for i := range typ.NumMethod() {
		out = append(out, "dynamodb:"+typ.Method(i).Name)
	}
	slices.Sort(out)
	return out
}

// appActions are the actions each function's store sends to the
// application table, read from the stores' API interfaces.
var appActions = map[string][]string{
	stack.ReserveStock:  storeActions[stock.API](),
	stack.AccountEvents: storeActions[accounts.API](),
	stack.NightlyRollup: storeActions[rollup.API](),
	// account-transfers uses the accounts store too.
	stack.AccountTransfers: storeActions[accounts.API](),
	// low-stock-alerts reads and puts alerts (stock.Store.Alert, putAlert).
	stack.LowStockAlerts: {"dynamodb:GetItem", "dynamodb:PutItem"},
	// tenant-exports updates its export records (functions/tenant-exports:
	// job.run), in a lease-checked transaction.
	stack.TenantExports: {"dynamodb:UpdateItem"},
}

func TestDynamoDBStatementsAreLeastPrivilege(t *testing.T) {
	// GIVEN the example stack
	f := synth()
	d := templateOf(t, f.tpl)
	lockID := logicalID(t, f.example.Stack, f.example.LockTable.TableName())
	appID := logicalID(t, f.example.Stack, f.example.AppTable.TableName())
	allowed := map[string][]string{lockID: locktable.WriteActions()}
	for _, a := range appActions {
		allowed[appID] = append(allowed[appID], a...)
	}

	// WHEN every identity policy statement is examined
	stmts := d.statements(t)
	if len(stmts) == 0 {
		t.Fatal("no IAM statements")
	}
	// THEN each one that allows DynamoDB names only the actions the lock or
	// the stores need, on the lock or application table's ARN alone
	for _, st := range stmts {
		var ddb bool
		for _, a := range st.actions {
			la := strings.ToLower(a)
			if la == "*" || strings.HasPrefix(la, "dynamodb:") {
				ddb = true
			}
			if strings.ContainsAny(a, "*?") && (la == "*" || strings.HasPrefix(la, "dynamodb:")) {
				t.Errorf("wildcard action %q in %v", a, st)
			}
		}
		if !ddb || isStreamRead(st) { // the stream's grants: stream_test.go
			continue
		}
		if len(st.resources) != 1 {
			t.Errorf("DynamoDB statement with %d resources: %v", len(st.resources), st)
			continue
		}
		table, attr, ok := getAtt(st.resources[0])
		if !ok || attr != "Arn" || allowed[table] == nil {
			t.Errorf("DynamoDB statement on %v, want one table's ARN: %v", st.resources[0], st)
			continue
		}
		for _, a := range st.actions {
			if !slices.Contains(allowed[table], a) {
				t.Errorf("action %s on %s is not one the code sends: %v", a, table, st)
			}
		}
	}
	for _, id := range d.ofType("AWS::IAM::Role") {
		if arns := d.props(id)["ManagedPolicyArns"]; arns != nil {
			t.Errorf("role %s has managed policies %v", id, arns)
		}
	}
}

// TestLockGrantsFollowTheCode: a function whose store writes through
// lock.Lease.Write (low-stock-alerts, tenant-exports) sends TransactWriteItems with a
// ConditionCheck on its lease, so it needs dynamodb:ConditionCheckItem on
// the lock table; those that write with lock.Lease.Complete (reserve-stock,
// account-events: the release and the claim's completion are Updates in
// the transaction) and the nightly rollup (UpdateItem alone) get no more
// than locktable.Actions.
func TestLockGrantsFollowTheCode(t *testing.T) {
	for name, want := range map[string][]string{
		stack.ReserveStock:     {"dynamodb:GetItem", "dynamodb:UpdateItem"},
		stack.AccountEvents:    {"dynamodb:GetItem", "dynamodb:UpdateItem"},
		stack.NightlyRollup:    {"dynamodb:GetItem", "dynamodb:UpdateItem"},
		stack.LowStockAlerts:   {"dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:UpdateItem"},
		stack.AccountTransfers: {"dynamodb:GetItem", "dynamodb:UpdateItem"},
		stack.TenantExports:    {"dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:UpdateItem"},
	} {
		equal(t, name+" lock actions", stack.LockActions(name), want)
	}
	if got := locktable.WriteActions(); !slices.Equal(got, []string{"dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:UpdateItem"}) {
		t.Errorf("WriteActions() = %v, want ConditionCheckItem, GetItem and UpdateItem", got)
	}
}

func TestFunctionDynamoDBGrants(t *testing.T) {
	f := synth()
	d := templateOf(t, f.tpl)
	lockID := logicalID(t, f.example.Stack, f.example.LockTable.TableName())
	appID := logicalID(t, f.example.Stack, f.example.AppTable.TableName())
	for _, name := range stack.FunctionNames() {
		t.Run(name, func(t *testing.T) {
			// GIVEN the function's role
			role := logicalID(t, f.example.Stack, f.example.Functions[name].Role().RoleName())
			// WHEN its DynamoDB statements are gathered, per table
			got := map[string][]string{}
			conditions := map[string]any{}
			for _, st := range d.statements(t) {
				if !slices.Contains(st.roles, role) || !strings.HasPrefix(strings.Join(st.actions, ","), "dynamodb:") || isStreamRead(st) {
					continue
				}
				table, _, _ := getAtt(st.resources[0])
				got[table] = append(got[table], st.actions...)
				conditions[table] = st.condition
			}
			for _, a := range got {
				slices.Sort(a)
			}
			// THEN it may update the locks of its namespace only, and send
			// the application table what its store sends
			equal(t, "lock table actions", got[lockID], stack.LockActions(name))
			equal(t, "lock table condition", conditions[lockID], map[string]any{
				locktable.LeadingKeysCondition: map[string]any{"dynamodb:LeadingKeys": []string{stack.LockPrefix(name) + "*"}},
			})
			equal(t, "app table actions", got[appID], appActions[name])
			equal(t, "app table condition", conditions[appID], nil)
			if len(got) != 2 {
				t.Errorf("DynamoDB statements on %d resources, want 2: %v", len(got), got)
			}
		})
	}
}
