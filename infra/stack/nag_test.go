package stack_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/dynalock/dynalock/infra/stack"
)

// nagStack is the construct ID of the stack TestAwsSolutionsChecks checks.
const nagStack = "Nagged"

// TestAwsSolutionsChecks runs cdk-nag's AwsSolutions rule pack over the
// example stack: no error and no warning may remain, and the findings
// suppressed (each with its reason, in the stack's code) are exactly the
// known ones. Before the HTTP API had IAM authorization and access logs,
// AwsSolutions-APIG4 and AwsSolutions-APIG1 failed here.
func TestAwsSolutionsChecks(t *testing.T) {
	// GIVEN the example stack in an app of its own, with the rule pack as
	// an aspect that also reports the suppressed findings
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	example := stack.NewExampleStack(app, nagStack, &stack.ExampleStackProps{AssetDir: assetDir})
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{
		Reports:    jsii.Bool(false),
		LogIgnores: jsii.Bool(true),
	}), nil)

	// WHEN it is synthesized
	ann := assertions.Annotations_FromStack(example.Stack)
	rule := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	errs := findings(t, ann.FindError(jsii.String("*"), rule))
	warns := findings(t, ann.FindWarning(jsii.String("*"), rule))
	suppressed := findings(t, ann.FindInfo(jsii.String("*"), rule))

	// THEN nothing is left but the suppressions that say why
	for _, e := range errs {
		t.Errorf("error: %s", e)
	}
	for _, w := range warns {
		t.Errorf("warning: %s", w)
	}
	want := []string{
		// dynamodb:ListStreams takes no resource: AWS requires "*" (stream.go).
		"AwsSolutions-IAM5 /LowStockAlertsRole/DefaultPolicy/Resource",
		// Dead-letter queues that cdk-nag does not recognize as such (queues.go).
		"AwsSolutions-SQS3 /AccountEventsDLQ/Resource",
		"AwsSolutions-SQS3 /LowStockAlertsFailures/Resource",
		"AwsSolutions-SQS3 /NightlyRollupDLQ/Resource",
	}
	if !slices.Equal(suppressed, want) {
		t.Errorf("suppressed findings:\n%s\nwant:\n%s", strings.Join(suppressed, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("AwsSolutions: %d errors, %d warnings, %d suppressed", len(errs), len(warns), len(suppressed))
}

var nagRule = regexp.MustCompile(`AwsSolutions-[A-Za-z0-9]+`)

// findings returns one line per message of an Annotations.Find call,
// sorted: the rule, the construct path below the stack and, for errors and
// warnings, the message. It reads the messages through their JSON form:
// the Go type the bindings return (cxapi.SynthesisMessage) is deprecated.
func findings(t *testing.T, msgs any) []string {
	t.Helper()
	data, err := json.Marshal(msgs)
	if err != nil {
		t.Fatal(err)
	}
	var list []struct {
		ID    string `json:"id"`
		Entry struct {
			Data any `json:"data"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range list {
		text := fmt.Sprint(m.Entry.Data)
		rule := nagRule.FindString(text)
		line := rule + " " + strings.TrimPrefix(m.ID, "/"+nagStack)
		if !strings.Contains(text, "was triggered but suppressed") {
			first, _, _ := strings.Cut(text, "\n")
			line += ": " + strings.TrimPrefix(first, rule+": ")
		}
		out = append(out, line)
	}
	slices.Sort(out)
	return out
}
