package emulator

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
)

// RIEPackage is the Go package of the Runtime Interface Emulator, a tool
// dependency in go.mod.
const RIEPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// Build compiles the Go package pkg (an import path or a path relative to
// the working directory, such as "./functions/reserve-stock") into the
// binary out for the host, as the Makefile's build-local target does: with
// -tags lambda.norpc, so that the binary speaks the Lambda runtime API
// directly, as a bootstrap of the provided.al2023 runtime does.
func Build(ctx context.Context, pkg, out string) error {
	return goBuild(ctx, out, pkg, "-tags", "lambda.norpc")
}

// BuildRIE compiles the Runtime Interface Emulator into the binary out.
func BuildRIE(ctx context.Context, out string) error {
	return goBuild(ctx, out, RIEPackage)
}

func goBuild(ctx context.Context, out, pkg string, flags ...string) error {
	goTool := "go"
	if root := os.Getenv("GOROOT"); root != "" {
		goTool = root + "/bin/go"
	}
	args := append([]string{"build", "-trimpath"}, flags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("emulator: go build %s: %w\n%s", pkg, err, stderr.String())
	}
	return nil
}
