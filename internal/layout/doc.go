// Package layout holds the tests of the repository's layout: the example
// functions under functions/ depend on no package under internal/, so a
// function's directory copied into another module builds there, and every
// package under internal/ is listed, with its kind, in internal/README.md;
// and a module that imports only lock and middleware gets no AWS CDK, jsii
// or constructs module in its graph (infra/, which needs them, is a module
// of its own for that reason, as bench/ and tools/ are).
package layout
