package stack_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/dynalock/dynalock/infra/stack"
)

// reserve-stock and tenant-exports change the visibility of the records
// they back off (middleware.WithVisibilityBackoff) and read their queues'
// visibility timeout and redrive policy: each one's role may do both on
// its own source queues, and no role may change visibility on any other
// resource. (GetQueueAttributes is also granted to the asynchronous
// functions on their dead-letter queues, with SendMessage, by their
// on-failure destinations.)
func TestVisibilityBackoffGrants(t *testing.T) {
	// GIVEN the example stack's source queues, by the role of the function
	// they feed
	f := synth()
	d := templateOf(t, f.tpl)
	role := func(fn string) string {
		return logicalID(t, f.example.Stack, f.example.Functions[fn].Role().RoleName())
	}
	queues := map[string][]string{
		role(stack.ReserveStock): {
			logicalID(t, f.example.Stack, f.example.Queue.QueueArn()),
			logicalID(t, f.example.Stack, f.example.FifoQueue.QueueArn()),
		},
		role(stack.TenantExports): {logicalID(t, f.example.Stack, f.example.ExportsQueue.QueueArn())},
	}
	for _, qs := range queues {
		slices.Sort(qs)
	}
	for _, tc := range []struct {
		action    string
		exclusive bool // no other role, no other resource
	}{{"sqs:ChangeMessageVisibility", true}, {"sqs:GetQueueAttributes", false}} {
		action := tc.action
		t.Run(action, func(t *testing.T) {
			// WHEN every statement that allows the action is examined
			on := map[string][]string{}
			for _, st := range d.statements(t) {
				allows := false
				for _, a := range st.actions {
					la := strings.ToLower(a)
					if la == strings.ToLower(action) || la == "sqs:*" || la == "*" {
						allows = true
					}
				}
				own, sourceRole := []string(nil), len(st.roles) == 1
				if sourceRole {
					own, sourceRole = queues[st.roles[0]]
				}
				if !allows || (!tc.exclusive && !sourceRole) {
					continue
				}
				// THEN it is one source function's, on its own source queues
				if !sourceRole {
					t.Errorf("%s granted to %v, want one of the source functions' roles alone: %v", action, st.roles, st)
					continue
				}
				for _, r := range st.resources {
					q, attr, ok := getAtt(r)
					if !ok || attr != "Arn" || !slices.Contains(own, q) {
						t.Errorf("%s on %v, want only the role's source queues %v: %v", action, r, own, st)
						continue
					}
					on[st.roles[0]] = append(on[st.roles[0]], q)
				}
			}
			// AND it covers all of them
			for r, qs := range queues {
				got := on[r]
				slices.Sort(got)
				equal(t, action+" of "+r+" on", slices.Compact(got), qs)
			}
		})
	}
}
