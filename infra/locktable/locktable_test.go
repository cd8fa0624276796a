package locktable_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/infra/locktable"
)

// fixture is one synthesized stack shared by the tests: synthesis starts a
// jsii (Node) process and takes seconds, so it happens once.
type fixture struct {
	stack        awscdk.Stack
	template     assertions.Template
	locks        *locktable.LockTable // nil props
	scratch      *locktable.LockTable // RemovalPolicy DESTROY, fixed name
	open, scoped awsiam.Role          // granted without and with prefixes
}

// scopedPrefixes are the lock-ID prefixes granted to fixture.scoped.
var scopedPrefixes = []string{"orders/", "a*b?c$"}

var synth = sync.OnceValue(func() *fixture {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("LockTableTest"), nil)
	f := &fixture{stack: stack}
	f.locks = locktable.New(stack, "Locks", nil)
	f.scratch = locktable.New(stack, "Scratch", &locktable.Props{
		TableName:     jsii.String("scratch-locks"),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := func(id string) awsiam.Role {
		return awsiam.NewRole(stack, jsii.String(id), &awsiam.RoleProps{
			AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		})
	}
	f.open, f.scoped = role("Open"), role("Scoped")
	f.locks.GrantLock(f.open)
	f.locks.GrantLock(f.scoped, scopedPrefixes...)
	f.template = assertions.Template_FromStack(stack, nil)
	return f
})

// check runs an assertions call, which panics on a mismatch, and reports
// the mismatch as a test error instead of a crash.
func check(t *testing.T, assert func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%v", r)
		}
	}()
	assert()
}

func TestTableMatchesLockDefinition(t *testing.T) {
	// GIVEN the lock package's table definition and the CreateTable request it makes
	want := admin.Table.CreateTableInput("ignored")
	var keySchema, attrs []interface{}
	for _, k := range want.KeySchema {
		keySchema = append(keySchema, map[string]interface{}{"AttributeName": *k.AttributeName, "KeyType": string(k.KeyType)})
	}
	for _, a := range want.AttributeDefinitions {
		attrs = append(attrs, map[string]interface{}{"AttributeName": *a.AttributeName, "AttributeType": string(a.AttributeType)})
	}

	// WHEN a LockTable is synthesized with default props
	f := synth()

	// THEN the table has the same key, attributes and billing, and TTL on lock's attribute
	check(t, func() {
		f.template.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), &map[string]interface{}{
			"KeySchema":            assertions.Match_ArrayEquals(&keySchema),
			"AttributeDefinitions": assertions.Match_ArrayEquals(&attrs),
			"BillingMode":          string(want.BillingMode),
			"TimeToLiveSpecification": assertions.Match_ObjectEquals(&map[string]interface{}{
				"AttributeName": admin.Table.TTLAttribute,
				"Enabled":       true,
			}),
		})
	})
	check(t, func() {
		f.template.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(2))
	})
}

func TestTableSettings(t *testing.T) {
	tests := []struct {
		name     string
		table    func(*fixture) *locktable.LockTable
		policy   string
		nameProp interface{}
	}{
		{"nil props retain the table", func(f *fixture) *locktable.LockTable { return f.locks }, "Retain", assertions.Match_Absent()},
		{"overridden removal policy and name", func(f *fixture) *locktable.LockTable { return f.scratch }, "Delete", "scratch-locks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// GIVEN the synthesized stack
			f := synth()
			// WHEN looking at this table's resource
			id := logicalID(f.stack, tt.table(f))
			// THEN it is on-demand, recoverable, encrypted, and kept or deleted as asked
			res := f.template.ToJSON()
			r, ok := (*res)["Resources"].(map[string]interface{})[id].(map[string]interface{})
			if !ok {
				t.Fatalf("no resource %s", id)
			}
			if r["DeletionPolicy"] != tt.policy || r["UpdateReplacePolicy"] != tt.policy {
				t.Errorf("DeletionPolicy %v, UpdateReplacePolicy %v, want %s", r["DeletionPolicy"], r["UpdateReplacePolicy"], tt.policy)
			}
			check(t, func() {
				f.template.HasResource(jsii.String("AWS::DynamoDB::Table"), &map[string]interface{}{
					"Properties": map[string]interface{}{
						"TableName":   tt.nameProp,
						"BillingMode": "PAY_PER_REQUEST",
						"PointInTimeRecoverySpecification": map[string]interface{}{
							"PointInTimeRecoveryEnabled": true,
						},
						"SSESpecification": map[string]interface{}{"SSEEnabled": true},
					},
					"DeletionPolicy": tt.policy,
				})
			})
		})
	}
}

func TestGrantLock(t *testing.T) {
	patterns := make([]interface{}, 0, len(scopedPrefixes))
	for _, p := range locktable.LeadingKeyPatterns(scopedPrefixes...) {
		patterns = append(patterns, p)
	}
	tests := []struct {
		name      string
		role      func(*fixture) awsiam.Role
		condition interface{}
	}{
		{"without prefixes", func(f *fixture) awsiam.Role { return f.open }, nil},
		{"with prefixes", func(f *fixture) awsiam.Role { return f.scoped }, map[string]interface{}{
			locktable.LeadingKeysCondition: map[string]interface{}{"dynamodb:LeadingKeys": patterns},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// GIVEN a role granted the lock on the default table
			f := synth()
			// WHEN its policy is synthesized
			stmt := map[string]interface{}{
				"Effect":   "Allow",
				"Action":   []interface{}{"dynamodb:GetItem", "dynamodb:UpdateItem"},
				"Resource": f.stack.Resolve(f.locks.TableArn()),
			}
			if tt.condition != nil {
				stmt["Condition"] = tt.condition
			}
			// THEN its only statement is GetItem and UpdateItem on that table's ARN (with the condition)
			check(t, func() {
				f.template.HasResourceProperties(jsii.String("AWS::IAM::Policy"), &map[string]interface{}{
					"Roles": []interface{}{f.stack.Resolve(tt.role(f).RoleName())},
					"PolicyDocument": map[string]interface{}{
						"Statement": assertions.Match_ArrayEquals(&[]interface{}{assertions.Match_ObjectEquals(&stmt)}),
					},
				})
			})
		})
	}
	if got := locktable.Actions(); !slices.Equal(got, []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}) {
		t.Errorf("Actions() = %v, want [dynamodb:GetItem dynamodb:UpdateItem]: the lock writes with UpdateItem, and its waiters read with GetItem", got)
	}
}

func TestLeadingKeyPatterns(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		want   string
	}{
		{"plain prefix", "reserve-stock/", "reserve-stock/*"},
		{"empty prefix matches every ID", "", "*"},
		{"wildcards match themselves", "a*b?", "a${*}b${?}*"},
		{"variables match themselves", "${aws:username}", "${$}{aws:username}*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// GIVEN a prefix WHEN turned into a pattern THEN specials are escaped and * appended
			got := locktable.LeadingKeyPatterns(tt.prefix)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("LeadingKeyPatterns(%q) = %q, want [%q]", tt.prefix, got, tt.want)
			}
		})
	}
}

// logicalID returns the logical ID of t's table in stack.
func logicalID(stack awscdk.Stack, t *locktable.LockTable) string {
	ref, ok := stack.Resolve(t.TableName()).(map[string]interface{})
	if !ok {
		panic(fmt.Sprintf("table name resolves to %v", stack.Resolve(t.TableName())))
	}
	return ref["Ref"].(string)
}
