package layout

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/dynalock/dynalock"

// kinds are the kinds of package internal/README.md may give.
var kinds = []string{"library", "harness", "runtime"}

// TestFunctionsUsePublicPackagesOnly fails when a package under
// functions/, or a package of this module that one of them depends on
// (their tests included), other than the library's public packages,
// imports a package under internal/, and when the library's packages
// bring in an internal package that is not of the library kind: a user
// module that copies a function's directory could not build it, or would
// build the test harness into it.
func TestFunctionsUsePublicPackagesOnly(t *testing.T) {
	dir := root(t)
	kinds := readmeTable(t, filepath.Join(dir, "internal", "README.md"))
	cmd := exec.Command("go", "list", "-deps", "-test", "-f", `{{.ImportPath}}|{{join .Imports ","}}`, "./functions/...")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr(err))
	}
	var functions int
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		importer, imports, _ := strings.Cut(strings.TrimSpace(line), "|")
		importer = plain(importer)
		if strings.HasPrefix(importer, module+"/functions/") {
			functions++
		}
		for imp := range strings.SplitSeq(imports, ",") {
			name, ok := internalPackage(plain(imp))
			if !ok {
				continue
			}
			if _, internal := internalPackage(importer); !internal && !slices.Contains(library, importer) {
				t.Errorf("%s imports %s: the example functions must build from public packages only", importer, plain(imp))
			} else if kind := kinds[name]; kind != "library" {
				t.Errorf("%s imports %s (kind %q in internal/README.md, want library): the example functions would depend on it", importer, plain(imp), kind)
			}
		}
	}
	if functions < 5 {
		t.Fatalf("go list found %d packages under functions/, want at least the five functions", functions)
	}
}

// library are the module's public packages that may import its internal
// packages of the library kind.
var library = []string{module + "/lock", module + "/middleware", module + "/admin"}

// plain returns an import path without go list's test variant suffix
// (" [pkg.test]").
func plain(path string) string {
	p, _, _ := strings.Cut(path, " ")
	return p
}

// internalPackage returns the directory right under internal/ that holds
// the package path, if it is one of this module's internal packages.
func internalPackage(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, module+"/internal/")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, "/")
	return name, true
}

// TestInternalKinds fails when a package directory under internal/ is
// missing from internal/README.md's table, or the table lists one that is
// gone or gives a kind other than library, harness or runtime.
func TestInternalKinds(t *testing.T) {
	dir := filepath.Join(root(t), "internal")
	listed := readmeTable(t, filepath.Join(dir, "README.md"))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var present []string
	for _, e := range entries {
		if e.IsDir() && hasGo(t, filepath.Join(dir, e.Name())) {
			present = append(present, e.Name())
		}
	}
	for _, p := range present {
		kind, ok := listed[p]
		switch {
		case !ok:
			t.Errorf("internal/%s is not in internal/README.md's table: give it a kind (%s)", p, strings.Join(kinds, ", "))
		case !slices.Contains(kinds, kind):
			t.Errorf("internal/README.md gives internal/%s the kind %q, want one of %s", p, kind, strings.Join(kinds, ", "))
		}
	}
	for p := range listed {
		if !slices.Contains(present, p) {
			t.Errorf("internal/README.md lists %s, which is not a package directory under internal/", p)
		}
	}
}

// readmeTable returns the package → kind rows of the table in the
// README at path: rows of the form | `name` | kind | what |.
func readmeTable(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.TrimSpace(cells[2])
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no package table", path)
	}
	return rows
}

// hasGo reports whether dir or a directory below it holds a Go file.
func hasGo(t *testing.T, dir string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// root returns the module's root directory: the one whose go.mod this
// package's tests run under.
func root(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v\n%s", err, stderr(err))
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
