package main

import "syscall"

// dieWithParent has the kernel kill a function's process when the stack's
// process dies without draining it (SIGKILL, a crash).
func dieWithParent(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
