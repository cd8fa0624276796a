// Command infra is the CDK app of DynaLock's example stack. It only wires
// the app: the stack is in package stack, the lock table in locktable.
//
// Run it through `make synth` (no AWS account or CLI needed) or `make
// deploy`. The context value dynalock:assetDir overrides where the
// functions' binaries are (default: build/ at the repository root).
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/dynalock/dynalock/infra/stack"
)

// StackName is the example stack's name.
const StackName = "DynaLockExample"

// assetDirContext is the context key that overrides the asset directory.
const assetDirContext = "dynalock:assetDir"

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	dir, err := assetDir(app)
	if err == nil {
		err = stack.CheckAssets(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		jsii.Close()
		os.Exit(1)
	}
	stack.NewExampleStack(app, StackName, &stack.ExampleStackProps{AssetDir: dir})
	app.Synth(nil)
}

// rootModule is the module path of the repository's root, whose directory
// holds build/. infra/ is a module of its own, so the nearest go.mod is not
// necessarily the root's.
const rootModule = "github.com/dynalock/dynalock"

// assetDir returns the context's asset directory, or build/ beside the
// root module's go.mod, found from the working directory upwards.
func assetDir(app awscdk.App) (string, error) {
	if v, ok := app.Node().TryGetContext(jsii.String(assetDirContext)).(string); ok && v != "" {
		return filepath.Abs(v)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isModuleRoot(filepath.Join(dir, "go.mod"), rootModule) {
			return filepath.Join(dir, stack.DefaultAssetDir), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of " + rootModule + " above the working directory; set context " + assetDirContext)
		}
		dir = parent
	}
}

// isModuleRoot reports whether the go.mod file at path declares module mod.
func isModuleRoot(path, mod string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == mod
		}
	}
	return false
}
