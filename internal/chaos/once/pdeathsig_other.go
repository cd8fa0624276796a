//go:build !linux

package once

import "os/exec"

// setParentDeathSignal does nothing where the parent-death signal does not
// exist: the driver stops its workers itself.
func setParentDeathSignal(*exec.Cmd) {}
