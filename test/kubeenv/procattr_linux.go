package kubeenv

import (
	"os/exec"
	"syscall"
)

// dieWithParent ends a binary when the process that started it dies, so a
// test killed at its timeout leaves no API server behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
