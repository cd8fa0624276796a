// Package emulator runs Lambda functions locally: it builds their
// bootstrap binaries and runs each under its own AWS Lambda Runtime
// Interface Emulator process, a stand-in for one Lambda execution
// environment that serves one invocation at a time.
//
// The demo and the end-to-end test share it. Processes are started in
// their own process group, die with their parent on Linux, and are stopped
// by PID, never by name.
package emulator
