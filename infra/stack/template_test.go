package stack_test

import (
	"fmt"
	"sort"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
)

// doc is a synthesized template as plain JSON values, for assertions that
// relate resources to each other (a queue to its function's timeout, a
// statement to a table), which the assertions package cannot express.
type doc struct {
	resources map[string]map[string]any
	outputs   map[string]any
}

func templateOf(t *testing.T, tpl assertions.Template) doc {
	t.Helper()
	raw := *tpl.ToJSON()
	d := doc{resources: map[string]map[string]any{}}
	res, _ := raw["Resources"].(map[string]any)
	for id, r := range res {
		d.resources[id] = r.(map[string]any)
	}
	d.outputs, _ = raw["Outputs"].(map[string]any)
	return d
}

// ofType returns the logical IDs of the resources of type typ, sorted.
func (d doc) ofType(typ string) []string {
	var ids []string
	for id, r := range d.resources {
		if r["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// props returns the Properties of resource id (empty if it has none).
func (d doc) props(id string) map[string]any {
	p, _ := d.resources[id]["Properties"].(map[string]any)
	if p == nil {
		p = map[string]any{}
	}
	return p
}

// refID returns the logical ID of {"Ref": id}.
func refID(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	id, ok := m["Ref"].(string)
	return id, ok
}

// getAtt returns the logical ID and attribute of {"Fn::GetAtt": [id, attr]}.
func getAtt(v any) (id, attr string, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", "", false
	}
	l, isList := m["Fn::GetAtt"].([]any)
	if !isList || len(l) != 2 {
		return "", "", false
	}
	id, ok1 := l[0].(string)
	attr, ok2 := l[1].(string)
	return id, attr, ok1 && ok2
}

// list returns a value that may be one item or a list of items as a list.
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// logicalID returns the logical ID a token (a Ref or GetAtt) refers to.
func logicalID(t *testing.T, s awscdk.Stack, token *string) string {
	t.Helper()
	v := s.Resolve(token)
	if id, ok := refID(v); ok {
		return id
	}
	if id, _, ok := getAtt(v); ok {
		return id
	}
	t.Fatalf("token resolves to %v, not a Ref or GetAtt", v)
	return ""
}

// number returns a JSON number as a float64.
func number(t *testing.T, v any, what string) float64 {
	t.Helper()
	n, ok := v.(float64)
	if !ok {
		t.Fatalf("%s is %v (%T), not a number", what, v, v)
	}
	return n
}

// statement is one IAM policy statement of a policy attached to roles.
type statement struct {
	policy    string   // logical ID of the AWS::IAM::Policy
	roles     []string // logical IDs of the roles it is attached to
	actions   []string
	resources []any
	condition any
}

func (s statement) String() string {
	return fmt.Sprintf("%s %v on %v (roles %v)", s.policy, s.actions, s.resources, s.roles)
}

// statements returns every statement of every identity policy in d: the
// AWS::IAM::Policy resources and the roles' inline and managed policies.
func (d doc) statements(t *testing.T) []statement {
	t.Helper()
	var out []statement
	add := func(policy string, roles []string, document any) {
		stmts, _ := document.(map[string]any)["Statement"].([]any)
		for _, raw := range stmts {
			m := raw.(map[string]any)
			st := statement{policy: policy, roles: roles, resources: list(m["Resource"]), condition: m["Condition"]}
			if m["NotAction"] != nil || m["NotResource"] != nil {
				t.Errorf("%s: NotAction/NotResource statement %v", policy, m)
			}
			for _, a := range list(m["Action"]) {
				st.actions = append(st.actions, a.(string))
			}
			out = append(out, st)
		}
	}
	for _, id := range append(d.ofType("AWS::IAM::Policy"), d.ofType("AWS::IAM::ManagedPolicy")...) {
		p := d.props(id)
		var roles []string
		for _, r := range list(p["Roles"]) {
			rid, _ := refID(r)
			roles = append(roles, rid)
		}
		add(id, roles, p["PolicyDocument"])
	}
	for _, id := range d.ofType("AWS::IAM::Role") {
		for _, p := range list(d.props(id)["Policies"]) {
			add(id+"/inline", []string{id}, p.(map[string]any)["PolicyDocument"])
		}
	}
	return out
}
