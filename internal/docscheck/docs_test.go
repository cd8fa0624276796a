package docscheck

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

// commonImports are the imports a snippet without its own gets, each with
// a use so that a snippet need not use them all.
var commonImports = []struct{ path, use string }{
	{"context", "context.Background"},
	{"encoding/json", "json.Marshal"},
	{"errors", "errors.Is"},
	{"fmt", "fmt.Sprint"},
	{"log", "log.Print"},
	{"log/slog", "slog.Default"},
	{"net/http", "http.StatusOK"},
	{"os", "os.Getenv"},
	{"os/signal", "signal.NotifyContext"},
	{"syscall", "syscall.SIGTERM"},
	{"time", "time.Second"},
	{"github.com/aws/aws-lambda-go/events", "events.SQSEvent{}"},
	{"github.com/aws/aws-lambda-go/lambda", "lambda.Start"},
	{"github.com/aws/aws-sdk-go-v2/aws", "aws.String"},
	{"github.com/aws/aws-sdk-go-v2/config", "config.LoadDefaultConfig"},
	{"github.com/aws/aws-sdk-go-v2/service/dynamodb", "dynamodb.NewFromConfig"},
	{"github.com/aws/aws-sdk-go-v2/service/dynamodb/types", "types.TransactWriteItem{}"},
	{"github.com/aws/aws-sdk-go-v2/service/sqs", "sqs.NewFromConfig"},
	{"github.com/dynalock/dynalock/admin", "admin.Read"},
	{"github.com/dynalock/dynalock/lock", "lock.New"},
	{"github.com/dynalock/dynalock/middleware", "middleware.Wrap[int, int]"},
}

// commonNames are the names the docs' snippets use without declaring them:
// the clients, leases and handlers of the surrounding text. A snippet that
// declares one of them at package level does without the common one.
var commonNames = map[string]string{
	"ctx":            "context.Context",
	"cfg":            "aws.Config",
	"db":             "*dynamodb.Client",
	"sqsClient":      "*sqs.Client",
	"locks":          "*lock.Client",
	"dl":             "*lock.Lock",
	"lease":          "*lock.Lease",
	"err":            "error",
	"eventID":        "string",
	"body":           "[]byte",
	"result":         "[]byte",
	"items":          "[]types.TransactWriteItem",
	"debit":          "types.TransactWriteItem",
	"credit":         "types.TransactWriteItem",
	"effect":         "types.TransactWriteItem",
	"transfer":       "func(context.Context) error",
	"work":           "func(context.Context) error",
	"reserve":        "func(context.Context, events.SQSMessage) error",
	"handle":         "func(context.Context, events.EventBridgeEvent) error",
	"decrementStock": "func(events.SQSMessage) types.TransactWriteItem",
	"postTransfer": "func(context.Context, events.APIGatewayV2HTTPRequest) " +
		"(events.APIGatewayV2HTTPResponse, error)",
}

// docFiles returns the Markdown files whose snippets are checked: README.md
// and docs/*.md, relative to root.
func docFiles(t *testing.T, root string) []string {
	files := []string{"README.md"}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range more {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, rel)
	}
	return files
}

// snippet is one fenced go block.
type snippet struct {
	file string // relative to the repository's root
	line int    // of the block's first line of code
	code string
}

func (s snippet) String() string { return fmt.Sprintf("%s:%d", s.file, s.line) }

var fence = regexp.MustCompile("^(\\s*)(```+|~~~+)\\s*([^\\s`]*)")

// extract returns the go blocks of one Markdown file.
func extract(t *testing.T, root, file string) []snippet {
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	var (
		out      []snippet
		open     string // the fence that opened the current block, or ""
		lang     string
		indent   string
		start    int
		lines    []string
		lineNum  int
		sc       = bufio.NewScanner(bytes.NewReader(data))
		openLine int
	)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lineNum++
		text := sc.Text()
		if open == "" {
			if m := fence.FindStringSubmatch(text); m != nil {
				indent, open, lang = m[1], m[2], m[3]
				start, openLine, lines = lineNum+1, lineNum, nil
			}
			continue
		}
		trimmed := strings.TrimSpace(text)
		if strings.HasPrefix(trimmed, open[:3]) && strings.Trim(trimmed, open[:1]) == "" && len(trimmed) >= len(open) {
			if lang == "go" {
				out = append(out, snippet{file: file, line: start, code: strings.Join(lines, "\n") + "\n"})
			}
			open = ""
			continue
		}
		lines = append(lines, strings.TrimPrefix(text, indent))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if open != "" {
		t.Errorf("%s:%d: code block never closed", file, openLine)
	}
	return out
}

// kind is what a snippet is, as compiled.
type kind int

const (
	wholeFile kind = iota
	declarations
	statements
)

var packageClause = regexp.MustCompile(`(?m)^package\s+\w+`)

// classify returns the snippet's kind and, for declarations, the file it
// parses as (to find its imports and the names it declares).
func classify(s snippet) (kind, *ast.File) {
	if packageClause.MatchString(s.code) {
		return wholeFile, nil
	}
	f, err := parser.ParseFile(token.NewFileSet(), "", "package p\n"+s.code, parser.SkipObjectResolution)
	if err == nil {
		return declarations, f
	}
	return statements, nil
}

// declared returns the package-level names f declares.
func declared(f *ast.File) map[string]bool {
	names := map[string]bool{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				names[d.Name.Name] = true
			}
		case *ast.GenDecl:
			for _, sp := range d.Specs {
				switch sp := sp.(type) {
				case *ast.TypeSpec:
					names[sp.Name.Name] = true
				case *ast.ValueSpec:
					for _, n := range sp.Names {
						names[n.Name] = true
					}
				}
			}
		}
	}
	return names
}

// definedInBody returns the names that the top level of a statement
// snippet defines (:= or var), which a fragment may leave unused: the text
// around it goes on to use them.
func definedInBody(code string) []string {
	src := "package p\nfunc _() {\n" + code + "\n}\n"
	f, err := parser.ParseFile(token.NewFileSet(), "", src, parser.SkipObjectResolution)
	if err != nil {
		return nil // the compiler will say what is wrong
	}
	var names []string
	add := func(id *ast.Ident) {
		if id.Name != "_" && !slices.Contains(names, id.Name) {
			names = append(names, id.Name)
		}
	}
	for _, st := range f.Decls[0].(*ast.FuncDecl).Body.List {
		switch st := st.(type) {
		case *ast.AssignStmt:
			if st.Tok == token.DEFINE {
				for _, l := range st.Lhs {
					if id, ok := l.(*ast.Ident); ok {
						add(id)
					}
				}
			}
		case *ast.DeclStmt:
			if g, ok := st.Decl.(*ast.GenDecl); ok && g.Tok == token.VAR {
				for _, sp := range g.Specs {
					for _, n := range sp.(*ast.ValueSpec).Names {
						add(n)
					}
				}
			}
		}
	}
	return names
}

// importBlock returns the common imports and a use of each.
func importBlock() string {
	var b strings.Builder
	b.WriteString("import (\n")
	for _, im := range commonImports {
		fmt.Fprintf(&b, "\t%q\n", im.path)
	}
	b.WriteString(")\n\nvar (\n")
	for _, im := range commonImports {
		fmt.Fprintf(&b, "\t_ = %s\n", im.use)
	}
	b.WriteString(")\n")
	return b.String()
}

// render returns the files of the snippet's package.
func render(root string, s snippet) map[string]string {
	directive := fmt.Sprintf("//line %s:%d\n", filepath.Join(root, s.file), s.line)
	k, f := classify(s)
	if k == wholeFile {
		return map[string]string{"snippet.go": directive + s.code}
	}
	var taken map[string]bool
	var src strings.Builder
	src.WriteString("package snippet\n\n")
	if k == declarations {
		taken = declared(f)
		if len(f.Imports) == 0 {
			src.WriteString(importBlock())
		}
		src.WriteString(directive + s.code)
	} else {
		src.WriteString(importBlock())
		src.WriteString("\nfunc _() error {\n" + directive + s.code)
		src.WriteString("//line docscheck-wrapper.go:1\n")
		for _, n := range definedInBody(s.code) {
			fmt.Fprintf(&src, "\t_ = %s\n", n)
		}
		src.WriteString("\treturn nil\n}\n")
	}
	var env strings.Builder
	env.WriteString("package snippet\n\n" + importBlock() + "\nvar (\n")
	names := make([]string, 0, len(commonNames))
	for n := range commonNames {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if !taken[n] {
			fmt.Fprintf(&env, "\t%s %s\n", n, commonNames[n])
		}
	}
	env.WriteString(")\n")
	return map[string]string{"snippet.go": src.String(), "env.go": env.String()}
}

// repoRoot is the module's root: this package is internal/docscheck.
func repoRoot(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Clean(filepath.Join(wd, "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at the repository's root %s: %v", root, err)
	}
	return root
}

// TestDocSnippetsCompile compiles every go block of README.md and
// docs/*.md, in one go vet run per module.
func TestDocSnippetsCompile(t *testing.T) {
	root := repoRoot(t)
	var all []snippet
	for _, f := range docFiles(t, root) {
		all = append(all, extract(t, root, f)...)
	}
	if len(all) == 0 {
		t.Fatal("no go blocks found in README.md and docs/*.md")
	}
	// By module: a snippet that imports infra's packages is compiled in
	// infra's module (a nested one, which keeps CDK out of the root's
	// graph), every other in the root module.
	byModule := map[string][]snippet{}
	for _, s := range all {
		m := moduleOf(s)
		byModule[m] = append(byModule[m], s)
	}
	for _, m := range slices.Sorted(maps.Keys(byModule)) {
		vetSnippets(t, root, m, byModule[m])
	}
}

// nestedModules are the repository's modules, other than the root, whose
// packages the docs' snippets import: directory and module path.
var nestedModules = []struct{ dir, path string }{
	{"infra", "github.com/dynalock/dynalock/infra"},
}

// moduleOf returns the directory, relative to the root, of the module in
// which s compiles: "." unless s imports a nested module's package.
func moduleOf(s snippet) string {
	for _, m := range nestedModules {
		if strings.Contains(s.code, `"`+m.path+`"`) || strings.Contains(s.code, `"`+m.path+`/`) {
			return m.dir
		}
	}
	return "."
}

// vetSnippets compiles snippets, all in one go vet run, as packages of the
// module in directory mod (relative to root).
func vetSnippets(t *testing.T, root, mod string, all []snippet) {
	t.Helper()
	modDir := filepath.Join(root, mod)
	// Under testdata, so that ./... patterns (make lint, others' test
	// runs) never see the generated packages, and inside the module, so
	// that their imports resolve through its go.mod and go.sum.
	testdata := filepath.Join(modDir, "testdata")
	if mod == "." {
		testdata = "testdata" // this package's own
	}
	if err := os.MkdirAll(testdata, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(testdata, "snippets-")
	if err != nil {
		t.Fatal(err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(dir)
		os.Remove(filepath.Dir(dir)) // only if empty: another run may be using it
	})
	var pkgs []string
	for i, s := range all {
		pkg := filepath.Join(dir, fmt.Sprintf("s%03d", i))
		if err := os.MkdirAll(pkg, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, src := range render(root, s) {
			if err := os.WriteFile(filepath.Join(pkg, name), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		rel, err := filepath.Rel(modDir, pkg)
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, "./"+filepath.ToSlash(rel))
	}
	// unreachable: a statement snippet that ends in a return is followed by
	// the wrapper's own.
	args := append([]string{"vet", "-unreachable=false"}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = modDir // in the root, messages name README.md and docs/…
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("go vet of %d snippets in module %s/: %s", len(all), mod, time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Errorf("documentation snippets do not compile (file:line of the Markdown):\n%s", vetMessages(string(out)))
	}
}

// TestExtract checks the block parser on the fences the docs use.
func TestExtract(t *testing.T) {
	dir := t.TempDir()
	md := "# T\n\n```go\nx := 1\n```\n\n```text\nnot go\n```\n\n- item\n\n  ```go\n  func f() {}\n  ```\n\n```go-fragment\nnot compiled\n```\n"
	if err := os.WriteFile(filepath.Join(dir, "a.md"), []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	got := extract(t, dir, "a.md")
	want := []snippet{{"a.md", 4, "x := 1\n"}, {"a.md", 14, "func f() {}\n"}}
	if !slices.Equal(got, want) {
		t.Fatalf("extract = %v, want %v", got, want)
	}
	if k, _ := classify(got[0]); k != statements {
		t.Errorf("%q is %v, want statements", got[0].code, k)
	}
	if k, _ := classify(got[1]); k != declarations {
		t.Errorf("%q is %v, want declarations", got[1].code, k)
	}
	if k, _ := classify(snippet{code: "package main\n\nfunc main() {}\n"}); k != wholeFile {
		t.Errorf("a file with a package clause is %v, want a whole file", k)
	}
	if got := definedInBody("a, err := f()\nif err != nil {\n\tb := 2\n}\nvar c int\n"); !slices.Equal(got, []string{"a", "err", "c"}) {
		t.Errorf("definedInBody = %v, want [a err c]", got)
	}
}

// vetMessages returns go vet's output without the generated packages'
// headers, each message naming the Markdown file and line.
func vetMessages(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "# ") {
			continue // the generated package's import path
		}
		l = strings.TrimPrefix(l, "vet: ")
		b.WriteString(strings.TrimPrefix(l, "./") + "\n")
	}
	return b.String()
}

// TestProblemTypeAnchors: every problem type URI that the middleware's
// HTTP answers carry points at an anchor of README.md, which says what it
// means.
func TestProblemTypeAnchors(t *testing.T) {
	root := repoRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "middleware", "http_problem.go"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	uris := regexp.MustCompile(`"https://github\.com/dynalock/dynalock#([A-Za-z0-9_-]+)"`).FindAllSubmatch(src, -1)
	if len(uris) == 0 {
		t.Fatal("no problem type URIs found in middleware/http_problem.go")
	}
	for _, m := range uris {
		if !bytes.Contains(readme, []byte(`<a id="`+string(m[1])+`"></a>`)) {
			t.Errorf("README.md has no anchor <a id=%q></a>, which the problem type %s names", m[1], m[0])
		}
	}
}

// TestLinks: every relative link of README.md and docs/*.md names a file
// that exists, and an anchor that the file has (a heading's or an <a id>).
func TestLinks(t *testing.T) {
	root := repoRoot(t)
	anchors := map[string]map[string]bool{}
	anchorsOf := func(file string) map[string]bool {
		if a, ok := anchors[file]; ok {
			return a
		}
		a := map[string]bool{}
		anchors[file] = a
		data, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			return a
		}
		inCode := false
		for _, l := range strings.Split(string(data), "\n") {
			if fence.MatchString(l) {
				inCode = !inCode
			}
			if inCode {
				continue
			}
			if strings.HasPrefix(l, "#") {
				a[slug(strings.TrimLeft(l, "# "))] = true
			}
			for _, m := range regexp.MustCompile(`<a id="([^"]+)">`).FindAllStringSubmatch(l, -1) {
				a[m[1]] = true
			}
		}
		return a
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	codeSpan := regexp.MustCompile("`[^`]*`")
	for _, file := range docFiles(t, root) {
		data, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		inCode := false
		for i, l := range strings.Split(string(data), "\n") {
			if fence.MatchString(l) {
				inCode = !inCode
			}
			if inCode {
				continue
			}
			for _, m := range link.FindAllStringSubmatch(codeSpan.ReplaceAllString(l, ""), -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, anchor, _ := strings.Cut(target, "#")
				dest := file
				if path != "" {
					dest = filepath.Clean(filepath.Join(filepath.Dir(file), path))
					if _, err := os.Stat(filepath.Join(root, dest)); err != nil {
						t.Errorf("%s:%d: link to %s: no such file", file, i+1, target)
						continue
					}
				}
				if anchor != "" && strings.HasSuffix(dest, ".md") && !anchorsOf(dest)[anchor] {
					t.Errorf("%s:%d: link to %s: %s has no anchor %q", file, i+1, target, dest, anchor)
				}
			}
		}
	}
}

// slug is the anchor GitHub gives a heading: lower case, punctuation
// dropped but for hyphens, spaces made hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
