package stack_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynalock/dynalock/admin"
	"github.com/dynalock/dynalock/examples/shop/appdata"
	"github.com/dynalock/dynalock/infra/stack"
)

func TestTablesFollowTheirDefinitions(t *testing.T) {
	f := synth()
	d := templateOf(t, f.tpl)
	tests := []struct {
		name  string
		id    string
		input *dynamodb.CreateTableInput // the definition the table must agree with
		ttl   any
	}{
		{"lock table", logicalID(t, f.example.Stack, f.example.LockTable.TableName()), admin.Table.CreateTableInput("x"),
			map[string]any{"AttributeName": admin.Table.TTLAttribute, "Enabled": true}},
		{"app table", logicalID(t, f.example.Stack, f.example.AppTable.TableName()), appdata.CreateTableInput("x"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// GIVEN the definition in Go code
			var keys, attrs []any
			for _, k := range tt.input.KeySchema {
				keys = append(keys, map[string]any{"AttributeName": *k.AttributeName, "KeyType": string(k.KeyType)})
			}
			for _, a := range tt.input.AttributeDefinitions {
				attrs = append(attrs, map[string]any{"AttributeName": *a.AttributeName, "AttributeType": string(a.AttributeType)})
			}
			// WHEN the example stack is synthesized
			p := d.props(tt.id)
			// THEN the table has the same key and billing, with TTL, PITR and encryption
			if d.resources[tt.id]["Type"] != "AWS::DynamoDB::Table" {
				t.Fatalf("%s is a %v", tt.id, d.resources[tt.id]["Type"])
			}
			equal(t, "KeySchema", p["KeySchema"], keys)
			equal(t, "AttributeDefinitions", p["AttributeDefinitions"], attrs)
			equal(t, "BillingMode", p["BillingMode"], string(tt.input.BillingMode))
			equal(t, "TimeToLiveSpecification", p["TimeToLiveSpecification"], tt.ttl)
			equal(t, "PointInTimeRecoverySpecification", p["PointInTimeRecoverySpecification"], map[string]any{"PointInTimeRecoveryEnabled": true})
			equal(t, "SSESpecification", p["SSESpecification"], map[string]any{"SSEEnabled": true})
			if name, ok := p["TableName"]; ok {
				t.Errorf("TableName is hard-coded: %v", name)
			}
		})
	}
}

func TestRemovalPolicy(t *testing.T) {
	f := synth()
	tests := []struct {
		name string
		doc  doc
		want string
	}{
		{"default keeps data and logs", templateOf(t, f.tpl), "Retain"},
		{"overridden", templateOf(t, f.cfgTpl), "Delete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// GIVEN a stack WHEN synthesized THEN its tables and log groups follow the removal policy
			ids := append(tt.doc.ofType("AWS::DynamoDB::Table"), tt.doc.ofType("AWS::Logs::LogGroup")...)
			// a log group per function, and the HTTP API's access logs
			if n := len(stack.FunctionNames()) + 1; len(ids) != 2+n {
				t.Fatalf("%d tables and log groups, want 2 tables and %d log groups: %v", len(ids), n, ids)
			}
			for _, id := range ids {
				r := tt.doc.resources[id]
				if r["DeletionPolicy"] != tt.want || r["UpdateReplacePolicy"] != tt.want {
					t.Errorf("%s: DeletionPolicy %v, UpdateReplacePolicy %v, want %s", id, r["DeletionPolicy"], r["UpdateReplacePolicy"], tt.want)
				}
			}
		})
	}
}
