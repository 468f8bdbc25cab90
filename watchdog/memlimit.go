package watchdog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
)

// Go sizes GOMAXPROCS from the container's CPU limit but sets no memory
// limit from its memory limit, so a function's heap can grow past
// limits.memory and be OOM-killed where a GC would have sufficed. At start
// Main sets the Go memory limit to memoryLimitShare of the cgroup's limit,
// unless something already set one (GOMEMLIMIT wins) or
// auto_gomemlimit=false. It reads the cgroup's files with the standard
// library alone.
//
// Where the cgroup's files are not mounted (faasd runs containers with
// containerd's default spec, which mounts nothing at /sys/fs/cgroup), nothing
// else a container can read holds its limit: /proc/meminfo and sysinfo(2)
// are the host's, no rlimit is set, /proc/self/mountinfo lists no cgroup
// file system elsewhere, and mounting one needs CAP_SYS_ADMIN. Main then
// warns, naming GOMEMLIMIT, rather than run silently without a limit.

// memoryLimitShare leaves a tenth of the cgroup's limit for what it counts
// and the Go runtime doesn't: the binary's pages, page cache from files the
// function reads, memory allocated outside Go.
const memoryLimitShare = 0.9

// noCgroupLimit: cgroup v1 writes "no limit" as the largest page-aligned
// int64; anything this large is no limit.
const noCgroupLimit = 1 << 62

// withMemoryLimit is Main's: set the Go memory limit from the cgroup files
// under root ("/" in a process, a fake tree in tests) before serving.
func withMemoryLimit(root fs.FS) Option {
	return func(s *Server) error { s.memRoot = root; return nil }
}

// memoryLimitIgnored is what a Server not run by Main logs when the
// environment it read asks for auto_gomemlimit=true.
const memoryLimitIgnored = "auto_gomemlimit=true is ignored: only watchdog.Main sets the Go memory limit, which is the whole process's; New and Serve leave it alone (set GOMEMLIMIT, or call debug.SetMemoryLimit, instead)"

// memoryLimitIgnored reports whether the environment asked for
// auto_gomemlimit=true of a Server that will not apply it.
func (s *Server) memoryLimitIgnored() bool { return s.memAsked && s.memRoot == nil }

// applyMemoryLimit sets and logs the Go memory limit as the comment at the
// top says. A cgroup that can't be read is a warning, not a failure: the
// function runs as it would have without this.
func (s *Server) applyMemoryLimit() {
	if s.memRoot == nil || !s.cfg.AutoGoMemLimit {
		return
	}
	if current := debug.SetMemoryLimit(-1); current != math.MaxInt64 {
		s.logger.Info("memory limit: set already (GOMEMLIMIT), left as it is", slog.String("gomemlimit", formatBytes(current)))
		return
	}
	limit, file, err := cgroupMemoryLimit(s.memRoot)
	if err != nil {
		s.logger.Warn("memory limit: not set from the cgroup: "+err.Error(),
			slog.String("hint", "set GOMEMLIMIT to 90% of the container's memory limit in the function's environment (for limits.memory 64Mi: GOMEMLIMIT=57MiB), or auto_gomemlimit=false to silence this"))
		return
	}
	if limit == 0 {
		return
	}
	goLimit := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(goLimit)
	s.logger.Info("memory limit: set from the cgroup",
		slog.String("gomemlimit", formatBytes(goLimit)),
		slog.String("cgroup_limit", formatBytes(limit)),
		slog.String("from", "/"+file))
}

// cgroupMemoryLimit is the memory limit of this process's cgroup, 0 if none,
// and the file it was read from. It walks from the process's own cgroup up
// to the root and keeps the smallest limit: a pod's limit may sit on a
// parent, and inside a container's cgroup namespace the process's cgroup is
// the root itself. cgroup v1's memory controller is used where the process
// has one (a hybrid host), else cgroup v2's memory.max.
func cgroupMemoryLimit(root fs.FS) (int64, string, error) {
	self, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0, "", fmt.Errorf("reading /proc/self/cgroup: %w", err)
	}
	v1, v2, found := cgroupPaths(self)
	switch {
	case v1 != "":
		return smallestLimit(root, "sys/fs/cgroup/memory", v1, "memory.limit_in_bytes")
	case found:
		return smallestLimit(root, "sys/fs/cgroup", v2, "memory.max")
	}
	return 0, "", nil // no cgroup at all, say outside Linux containers
}

// cgroupPaths finds, in /proc/self/cgroup, the v1 memory controller's path
// ("4:memory:/docker/abc") and the v2 path ("0::/"), if any.
func cgroupPaths(self []byte) (v1, v2 string, hasV2 bool) {
	sc := bufio.NewScanner(bytes.NewReader(self))
	for sc.Scan() {
		id, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		controllers, p, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		if id == "0" && controllers == "" {
			v2, hasV2 = p, true
		}
		for _, c := range strings.Split(controllers, ",") {
			if c == "memory" {
				v1 = p
			}
		}
	}
	return v1, v2, hasV2
}

func smallestLimit(root fs.FS, mount, cgroup, file string) (int64, string, error) {
	// Every cgroup folder has cgroup.procs, the mount's root included:
	// without it the hierarchy isn't mounted, which is not "no limit".
	if _, err := fs.Stat(root, path.Join(mount, "cgroup.procs")); errors.Is(err, fs.ErrNotExist) {
		return 0, "", fmt.Errorf("/%s is not mounted in this container (faasd mounts no cgroup files), and nothing else in it holds the memory limit", mount)
	}
	var best int64
	var bestFile string
	for p := path.Clean("/" + cgroup); ; p = path.Dir(p) {
		name := path.Join(mount, p, file)
		b, err := fs.ReadFile(root, name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Not mounted this deep (a container's view) or the v2 root,
			// which has no memory.max.
		case err != nil:
			return 0, "", fmt.Errorf("reading /%s: %w", name, err)
		default:
			v := strings.TrimSpace(string(b))
			if v == "max" {
				break
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return 0, "", fmt.Errorf("/%s holds %q: want a number of bytes or \"max\"", name, v)
			}
			if n < noCgroupLimit && (best == 0 || n < best) {
				best, bestFile = n, name
			}
		}
		if p == "/" {
			return best, bestFile, nil
		}
	}
}

// formatBytes writes n in MiB, as GOMEMLIMIT accepts it, or in bytes when
// it isn't a whole number of MiB.
func formatBytes(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + "MiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}
