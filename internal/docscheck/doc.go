// Package docscheck holds the tests of the project's documentation
// (README.md and docs/*.md): every Go snippet compiles against the module
// as it is, so that a renamed function or a changed signature fails make
// test instead of a reader's build; every relative link names a file and
// an anchor that exist; and every problem type URI of the middleware's
// HTTP answers names an anchor of README.md.
//
// A fenced block tagged go is one of three kinds:
//
//   - a whole file: it has a package clause, and is compiled as it is;
//   - declarations (functions, types, variables, with or without their own
//     imports): compiled as a file of a package of its own;
//   - statements: compiled as the body of a function returning error.
//
// Declarations and statements get the common imports (see commonImports)
// unless they bring their own, and the common names of the docs' snippets
// (ctx, locks, db, lease…; see commonNames) as package-level variables,
// unless they declare the same names. A block that is deliberately not Go
// that compiles is tagged go-fragment or text instead; the docs keep such
// blocks few and say why.
//
// Every snippet becomes one package of a temporary directory under this
// one's testdata (inside the root module, so its imports resolve against
// the module's own go.mod), and a single go vet run checks them all; a
// snippet that imports infra's packages (a module of its own, which keeps
// CDK out of the root's graph) is compiled the same way under
// infra/testdata, in infra's module.
// Compiler and vet messages name the Markdown file and line, through
// //line directives.
package docscheck
