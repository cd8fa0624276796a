package stack_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/dynalock/dynalock/infra/stack"
)

// assetDir holds a dummy bootstrap per function, so that the stack
// synthesizes without `make build`.
var assetDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dynalock-infra-")
	if err == nil {
		err = writeAssets(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack_test:", err)
		os.Exit(1)
	}
	assetDir = dir
	code := m.Run()
	jsii.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeAssets writes <dir>/<function>/bootstrap for every function.
func writeAssets(dir string) error {
	for _, fn := range stack.FunctionNames() {
		if err := os.MkdirAll(filepath.Join(dir, fn), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, fn, stack.Bootstrap), []byte("#!/bin/sh\n"), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// fixture is synthesized once and shared: synthesis runs in the jsii (Node)
// process and takes seconds.
type fixture struct {
	// example is the stack as main defines it: only AssetDir set.
	example *stack.ExampleStack
	tpl     assertions.Template
	// configured overrides the removal policy and has an alarm topic.
	configured *stack.ExampleStack
	cfgTpl     assertions.Template
}

// topicARN is the alarm topic of fixture.configured.
const topicARN = "arn:aws:sns:eu-west-1:111111111111:dynalock-alarms"

var synth = sync.OnceValue(func() *fixture {
	app := awscdk.NewApp(nil)
	f := &fixture{}
	f.example = stack.NewExampleStack(app, "Example", &stack.ExampleStackProps{AssetDir: assetDir})
	shared := awscdk.NewStack(app, jsii.String("Shared"), nil)
	f.configured = stack.NewExampleStack(app, "Configured", &stack.ExampleStackProps{
		AssetDir:      assetDir,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		AlarmTopic:    awssns.Topic_FromTopicArn(shared, jsii.String("Alarms"), jsii.String(topicARN)),
	})
	f.tpl = assertions.Template_FromStack(f.example.Stack, nil)
	f.cfgTpl = assertions.Template_FromStack(f.configured.Stack, nil)
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
