package once

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal kills a worker if the driver dies first.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
