// This file makes tools/ a module of its own, so that the root module's
// ./... patterns (go vet, go test) stay out of node_modules, whose npm
// packages ship Go templates that do not build.
module github.com/dynalock/dynalock/tools

go 1.26
