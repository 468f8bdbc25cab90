//go:build detail_cgroupfiles

package main

import (
	"os"
	"syscall"
)

// A piece of the metrics library's package init (idleparts -detail): the
// cgroup, PSI and cpu.stat files it reads to start its series from zero.
var cgroupFiles [][]byte

func init() {
	parts = append(parts, func() {
		for _, f := range []string{"/proc/self/cgroup", "/sys/fs/cgroup/cpu.pressure", "/sys/fs/cgroup/io.pressure", "/sys/fs/cgroup/memory.pressure", "/sys/fs/cgroup/cpu.stat"} {
			b, _ := os.ReadFile(f)
			cgroupFiles = append(cgroupFiles, b)
		}
		var st syscall.Statfs_t
		_ = syscall.Statfs("/sys/fs/cgroup", &st)
	})
}
