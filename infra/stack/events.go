package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/dynalock/dynalock/examples/shop/accounts"
)

// AccountEventsSource is the EventBridge source of the events that
// AccountEvents handles (see events/eventbridge-account.json).
const AccountEventsSource = "dynalock.accounts"

// NightlySchedule is when NightlyRollup runs: 02:00 UTC every day.
const NightlySchedule = "cron(0 2 * * ? *)"

// addAccountEventsRule routes account events (source AccountEventsSource,
// detail-type accounts.Credited or accounts.Debited, with a
// detail.accountId) on the default bus to AccountEvents.
func (s *ExampleStack) addAccountEventsRule(pattern *awsevents.EventPattern, dlq awssqs.IQueue) {
	if pattern == nil {
		pattern = &awsevents.EventPattern{
			Source:     jsii.Strings(AccountEventsSource),
			DetailType: jsii.Strings(accounts.Credited, accounts.Debited),
			Detail:     &map[string]interface{}{"accountId": []interface{}{map[string]interface{}{"exists": true}}},
		}
	}
	awsevents.NewRule(s.Stack, jsii.String("AccountEventsRule"), &awsevents.RuleProps{
		Description:  jsii.String("Account events to " + AccountEvents),
		EventPattern: pattern,
		Targets:      &[]awsevents.IRuleTarget{s.target(AccountEvents, dlq)},
	})
}

// addNightlySchedule runs NightlyRollup on NightlySchedule.
func (s *ExampleStack) addNightlySchedule(dlq awssqs.IQueue) {
	awsevents.NewRule(s.Stack, jsii.String("NightlyRollupSchedule"), &awsevents.RuleProps{
		Description: jsii.String("Nightly run of " + NightlyRollup),
		Schedule:    awsevents.Schedule_Expression(jsii.String(NightlySchedule)),
		Targets:     &[]awsevents.IRuleTarget{s.target(NightlyRollup, dlq)},
	})
}

// target invokes the named function; events EventBridge cannot deliver go
// to dlq, the queue that also receives the function's failed invocations.
func (s *ExampleStack) target(name string, dlq awssqs.IQueue) awsevents.IRuleTarget {
	return awseventstargets.NewLambdaFunction(s.Functions[name], &awseventstargets.LambdaFunctionProps{
		DeadLetterQueue: dlq,
	})
}
