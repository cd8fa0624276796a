package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// RIEPackage is the Go package of the Runtime Interface Emulator, a tool
// dependency in tools/go.mod: a module of its own, so that the library's
// go.mod does not carry the emulator's dependencies and Go version.
const RIEPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// toolsModule is the directory of the module that pins the development
// tools, relative to the repository's root.
const toolsModule = "tools"

// Build compiles the Go package pkg (an import path or a path relative to
// the working directory, such as "./functions/reserve-stock") into the
// binary out for the host, as the Makefile's build-local target does: with
// -tags lambda.norpc, so that the binary speaks the Lambda runtime API
// directly, as a bootstrap of the provided.al2023 runtime does.
func Build(ctx context.Context, pkg, out string) error {
	return goBuild(ctx, "", out, pkg, "-tags", "lambda.norpc")
}

// BuildRIE compiles the Runtime Interface Emulator, at the version
// tools/go.mod pins, into the binary out. It finds tools/ above the
// working directory.
func BuildRIE(ctx context.Context, out string) error {
	dir, err := findTools()
	if err != nil {
		return err
	}
	if out, err = filepath.Abs(out); err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	return goBuild(ctx, dir, out, RIEPackage)
}

// findTools returns the nearest tools/ module above the working directory.
func findTools() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("emulator: %w", err)
	}
	for {
		tools := filepath.Join(dir, toolsModule)
		if _, err := os.Stat(filepath.Join(tools, "go.mod")); err == nil {
			return tools, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("emulator: no " + toolsModule + "/go.mod above the working directory")
		}
		dir = parent
	}
}

// goBuild runs go build in dir ("": the working directory).
func goBuild(ctx context.Context, dir, out, pkg string, flags ...string) error {
	goTool := "go"
	if root := os.Getenv("GOROOT"); root != "" {
		goTool = root + "/bin/go"
	}
	args := append([]string{"build", "-trimpath"}, flags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("emulator: go build %s: %w\n%s", pkg, err, stderr.String())
	}
	return nil
}
