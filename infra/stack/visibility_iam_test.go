package stack_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/dynalock/dynalock/infra/stack"
)

// reserve-stock changes the visibility of the records it backs off
// (middleware.WithVisibilityBackoff) and reads its queues' visibility
// timeout and redrive policy: its role may do both on its own two source
// queues, and no role may change visibility on any other resource.
// (GetQueueAttributes is also granted to the asynchronous functions on
// their dead-letter queues, with SendMessage, by their on-failure
// destinations.)
func TestVisibilityBackoffGrants(t *testing.T) {
	// GIVEN the example stack's source queues and reserve-stock's role
	f := synth()
	d := templateOf(t, f.tpl)
	queues := []string{
		logicalID(t, f.example.Stack, f.example.Queue.QueueArn()),
		logicalID(t, f.example.Stack, f.example.FifoQueue.QueueArn()),
	}
	slices.Sort(queues)
	role := logicalID(t, f.example.Stack, f.example.Functions[stack.ReserveStock].Role().RoleName())
	for _, tc := range []struct {
		action    string
		exclusive bool // no other role, no other resource
	}{{"sqs:ChangeMessageVisibility", true}, {"sqs:GetQueueAttributes", false}} {
		action := tc.action
		t.Run(action, func(t *testing.T) {
			// WHEN every statement that allows the action is examined
			var on []string
			for _, st := range d.statements(t) {
				allows := false
				for _, a := range st.actions {
					la := strings.ToLower(a)
					if la == strings.ToLower(action) || la == "sqs:*" || la == "*" {
						allows = true
					}
				}
				if !allows || (!tc.exclusive && !slices.Equal(st.roles, []string{role})) {
					continue
				}
				// THEN it is reserve-stock's, on one of its source queues
				if !slices.Equal(st.roles, []string{role}) {
					t.Errorf("%s granted to %v, want reserve-stock's role %s only: %v", action, st.roles, role, st)
				}
				for _, r := range st.resources {
					q, attr, ok := getAtt(r)
					if !ok || attr != "Arn" || !slices.Contains(queues, q) {
						t.Errorf("%s on %v, want only the source queues %v: %v", action, r, queues, st)
						continue
					}
					on = append(on, q)
				}
			}
			// AND it covers both
			slices.Sort(on)
			on = slices.Compact(on)
			equal(t, action+" on", on, queues)
		})
	}
}
