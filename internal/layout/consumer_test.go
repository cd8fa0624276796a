package layout

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// forbidden are the substrings no module path of a consumer's graph may
// contain: the CDK's modules (aws-cdk-go, cdklabs' asset and schema
// modules), its runtime (jsii-runtime-go) and its construct base
// (constructs-go).
var forbidden = []string{"cdk", "jsii", "constructs"}

// consumerMain is the consumer module's only file: it imports the two
// packages a Lambda user imports.
const consumerMain = `package main

import (
	_ "github.com/dynalock/dynalock/lock"
	_ "github.com/dynalock/dynalock/middleware"
)

func main() {}
`

// TestConsumerModuleGraph builds a throwaway module that imports lock and
// middleware (with a replace directive to this repository) and checks its
// `go list -m all`. It runs offline: the root's go.sum holds the hashes
// of every module a consumer can see (its graph is part of the root's),
// and GOPROXY=off makes the go command take them from the module cache,
// which `go mod download` (make deps) fills.
func TestConsumerModuleGraph(t *testing.T) {
	repo := root(t)
	dir := t.TempDir()
	goVersion := goDirective(t, filepath.Join(repo, "go.mod"))
	gomod := fmt.Sprintf("module example.com/consumer\n\ngo %s\n\nrequire github.com/dynalock/dynalock v0.0.0-00010101000000-000000000000\n\nreplace github.com/dynalock/dynalock => %s\n", goVersion, repo)
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum, "main.go": []byte(consumerMain)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	mods := goList(t, dir, "list", "-m", "all")
	// The go command resolves the imports too, so a package that is not
	// where the consumer expects it fails here rather than in a user's
	// build.
	goList(t, dir, "list", "-deps", ".")

	var bad []string
	for _, m := range mods {
		for _, f := range forbidden {
			if strings.Contains(strings.ToLower(m), f) {
				bad = append(bad, m)
				break
			}
		}
	}
	t.Logf("a module importing lock and middleware has %d modules in its graph (itself included)", len(mods))
	if !contains(mods, "github.com/aws/aws-lambda-go") {
		t.Errorf("the graph lacks aws-lambda-go, which middleware imports: was it loaded?\n%s", strings.Join(mods, "\n"))
	}
	if len(bad) > 0 {
		t.Errorf("a module importing only lock and middleware gets %d CDK/jsii/constructs modules (they belong in infra/go.mod):\n%s", len(bad), strings.Join(bad, "\n"))
	}
}

// goList runs the go command in the consumer module, offline and outside
// any workspace, and returns its output's lines.
func goList(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GOWORK=off",        // the consumer alone, not a workspace around it
		"GOFLAGS=-mod=mod",  // its go.mod lists only the direct requirement
		"GOPROXY=off",       // offline: from the module cache only
		"GOTOOLCHAIN=local", // never fetch another toolchain
	)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s in the consumer module: %v\n%s(run `go mod download` at the repository's root first: this test is offline)", strings.Join(args, " "), err, errOut.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// contains reports whether one of the `go list -m` lines is module path.
func contains(lines []string, path string) bool {
	for _, l := range lines {
		if strings.Fields(l)[0] == path {
			return true
		}
	}
	return false
}

var goLine = regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`)

// goDirective returns the go version of the go.mod file at path.
func goDirective(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := goLine.FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s has no go directive", path)
	}
	return string(m[1])
}
