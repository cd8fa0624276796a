//go:build !linux

package emulator

import (
	"errors"
	"os"
	"os/exec"
)

var terminate = os.Interrupt

func setProcAttr(*exec.Cmd) {}

func killGroup(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func children(int) ([]int, error) {
	return nil, errors.New("finding child processes needs Linux's /proc")
}
