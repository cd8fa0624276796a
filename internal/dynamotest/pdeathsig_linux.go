package dynamotest

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal kills DynamoDB Local if the test binary dies first.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
