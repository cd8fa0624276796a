// Package layout holds the tests of the repository's layout: the example
// functions under functions/ depend on no package under internal/, so a
// function's directory copied into another module builds there, and every
// package under internal/ is listed, with its kind, in internal/README.md.
package layout
