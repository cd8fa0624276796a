package stack_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/dynalock/dynalock/examples/shop/accounts"
	"github.com/dynalock/dynalock/examples/shop/rollup"
	"github.com/dynalock/dynalock/examples/shop/stock"
	"github.com/dynalock/dynalock/infra/stack"
)

// TestLockPrefixesMatchFunctions guards the prefix restriction of each
// function's lock grant: a function whose lock namespace drifted from its
// grant would be denied every lock in AWS, which no local run shows.
func TestLockPrefixesMatchFunctions(t *testing.T) {
	for _, name := range stack.FunctionNames() {
		t.Run(name, func(t *testing.T) {
			// GIVEN the function's main.go
			path := filepath.Join("..", "..", "functions", name, "main.go")
			file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			// WHEN the namespaces it passes to Middleware or
			// middleware.WithNamespace are collected
			consts := stringConsts(file)
			var namespaces []string
			ast.Inspect(file, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || (sel.Sel.Name != "Middleware" && sel.Sel.Name != "WithNamespace") {
					return true
				}
				ns, ok := namespaceOf(call.Args[0], consts)
				if !ok {
					t.Errorf("the namespace is %T, neither a string literal, a string constant of the file nor a known LockNamespace: cannot check the grant", call.Args[0])
					return true
				}
				namespaces = append(namespaces, ns)
				return true
			})
			// THEN there is one, and the stack grants exactly its lock IDs
			if len(namespaces) != 1 {
				t.Fatalf("namespaces %q in %s, want one", namespaces, path)
			}
			if got, want := stack.LockPrefix(name), namespaces[0]+"/"; got != want {
				t.Errorf("LockPrefix(%q) = %q, but the function's lock IDs start with %q", name, got, want)
			}
		})
	}
}

// lockNamespaces are the LockNamespace constants the functions' mains may
// name, by package.
var lockNamespaces = map[string]string{
	"stock":    stock.LockNamespace,
	"accounts": accounts.LockNamespace,
	"rollup":   rollup.LockNamespace,
}

// stringConsts returns the file's constants whose value is a string
// literal, by name.
func stringConsts(file *ast.File) map[string]string {
	out := map[string]string{}
	for _, decl := range file.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					if s, ok := literal(vs.Values[i]); ok {
						out[name.Name] = s
					}
				}
			}
		}
	}
	return out
}

// literal returns the value of a string literal.
func literal(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// namespaceOf returns the value of Middleware's namespace argument: a
// string literal, a string constant of the file (consts), or
// pkg.LockNamespace of a known package.
func namespaceOf(arg ast.Expr, consts map[string]string) (string, bool) {
	switch a := arg.(type) {
	case *ast.BasicLit:
		return literal(a)
	case *ast.Ident:
		ns, ok := consts[a.Name]
		return ns, ok
	case *ast.SelectorExpr:
		pkg, ok := a.X.(*ast.Ident)
		if !ok || a.Sel.Name != "LockNamespace" {
			return "", false
		}
		ns, ok := lockNamespaces[pkg.Name]
		return ns, ok
	}
	return "", false
}
