// Package modgraph holds a test of what the library costs its users in
// dependencies: a module that imports only lock and middleware must not
// get the AWS CDK, jsii or constructs in its module graph. Those belong to
// infra/ (the example stack and the lock table's construct), which is a
// module of its own for that reason, as bench/ and tools/ are.
package modgraph
