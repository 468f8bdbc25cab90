package watchdog

import (
	"math"
	"runtime/debug"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// cgroupFS is a root with /proc/self/cgroup holding self, unless empty,
// both cgroup hierarchies mounted, and files.
func cgroupFS(self string, files map[string]string) fstest.MapFS {
	m := unmountedFS(self, files)
	m["sys/fs/cgroup/cgroup.procs"] = &fstest.MapFile{}
	m["sys/fs/cgroup/memory/cgroup.procs"] = &fstest.MapFile{}
	return m
}

// unmountedFS is cgroupFS without the hierarchies' mounts: files is what
// sits in /sys/fs/cgroup without them, nothing as faasd runs a container.
func unmountedFS(self string, files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	if self != "" {
		m["proc/self/cgroup"] = &fstest.MapFile{Data: []byte(self)}
	}
	for name, v := range files {
		m[name] = &fstest.MapFile{Data: []byte(v)}
	}
	return m
}

func TestCgroupMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name  string
		self  string
		files map[string]string
		limit int64
		file  string
		err   string
	}{
		{"v2 container", "0::/\n", map[string]string{"sys/fs/cgroup/memory.max": "67108864\n"}, 64 * mib, "sys/fs/cgroup/memory.max", ""},
		{"v2 max", "0::/\n", map[string]string{"sys/fs/cgroup/memory.max": "max\n"}, 0, "", ""},
		{"v2 root has no memory.max", "0::/\n", nil, 0, "", ""},
		{"v2 limit on the pod, not the container", "0::/kubepods/pod1/ctr\n", map[string]string{
			"sys/fs/cgroup/kubepods/pod1/ctr/memory.max": "max\n",
			"sys/fs/cgroup/kubepods/pod1/memory.max":     "134217728\n",
			"sys/fs/cgroup/kubepods/memory.max":          "1073741824\n",
		}, 128 * mib, "sys/fs/cgroup/kubepods/pod1/memory.max", ""},
		{"v1 container (hybrid host)", "9:pids:/docker/abc\n4:memory:/docker/abc\n0::/\n", map[string]string{
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "67108864\n",
			"sys/fs/cgroup/memory.max":                   "33554432\n", // v2's, unused: memory is on v1
		}, 64 * mib, "sys/fs/cgroup/memory/memory.limit_in_bytes", ""},
		{"v1 unlimited", "4:memory:/\n", map[string]string{"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0, "", ""},
		{"v1 host view, nested", "4:memory:/process_api/e3f1\n", map[string]string{
			"sys/fs/cgroup/memory/memory.limit_in_bytes":                  "9223372036854771712\n",
			"sys/fs/cgroup/memory/process_api/memory.limit_in_bytes":      "9223372036854771712\n",
			"sys/fs/cgroup/memory/process_api/e3f1/memory.limit_in_bytes": "268435456\n",
		}, 256 * mib, "sys/fs/cgroup/memory/process_api/e3f1/memory.limit_in_bytes", ""},
		{"v1 shared hierarchy", "3:cpu,memory:/\n", map[string]string{"sys/fs/cgroup/memory/memory.limit_in_bytes": "1048576"}, mib, "sys/fs/cgroup/memory/memory.limit_in_bytes", ""},
		{"no cgroup", "\n", nil, 0, "", ""},
		{"no /proc", "", nil, 0, "", "reading /proc/self/cgroup: open proc/self/cgroup: file does not exist"},
		{"garbage", "0::/\n", map[string]string{"sys/fs/cgroup/memory.max": "lots\n"}, 0, "",
			`/sys/fs/cgroup/memory.max holds "lots": want a number of bytes or "max"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit, file, err := cgroupMemoryLimit(cgroupFS(tt.self, tt.files))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("err = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil || limit != tt.limit || file != tt.file {
				t.Errorf("= %d %q %v, want %d %q", limit, file, err, tt.limit, tt.file)
			}
		})
	}
}

// A process in a cgroup whose hierarchy is not mounted (faasd, or a tmpfs
// over /sys/fs/cgroup) has a limit it can't read: an error, not "no limit".
func TestCgroupNotMounted(t *testing.T) {
	const v1, v2 = "/sys/fs/cgroup/memory", "/sys/fs/cgroup"
	for _, tt := range []struct {
		name  string
		self  string
		files map[string]string
		mount string
	}{
		{"v2, nothing mounted (faasd)", "0::/\n", nil, v2},
		{"v1, nothing mounted", "4:memory:/libpod_parent/libpod-1\n0::/libpod_parent/libpod-1\n", nil, v1},
		{"v2, a file but no hierarchy", "0::/\n", map[string]string{"sys/fs/cgroup/memory.max": "67108864\n"}, v2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			limit, file, err := cgroupMemoryLimit(unmountedFS(tt.self, tt.files))
			want := tt.mount + " is not mounted in this container (faasd mounts no cgroup files), and nothing else in it holds the memory limit"
			if err == nil || err.Error() != want || limit != 0 || file != "" {
				t.Errorf("= %d %q %v, want the error %s", limit, file, err, want)
			}
		})
	}
}

// applyMemoryLimit changes the process's memory limit: these cases restore
// it and don't run in parallel.
func TestApplyMemoryLimit(t *testing.T) {
	limited := cgroupFS("0::/\n", map[string]string{"sys/fs/cgroup/memory.max": "67108864\n"})
	tests := []struct {
		name   string
		root   fstest.MapFS
		auto   bool
		before int64 // the limit already set; MaxInt64 for none
		want   int64
		msg    string
	}{
		{"set from the cgroup", limited, true, math.MaxInt64, 60397977, "memory limit: set from the cgroup"},
		{"GOMEMLIMIT wins", limited, true, 100 << 20, 100 << 20, "memory limit: set already (GOMEMLIMIT), left as it is"},
		{"auto_gomemlimit=false", limited, false, math.MaxInt64, math.MaxInt64, ""},
		{"no cgroup limit", cgroupFS("0::/\n", nil), true, math.MaxInt64, math.MaxInt64, ""},
		{"unreadable", cgroupFS("", nil), true, math.MaxInt64, math.MaxInt64,
			"memory limit: not set from the cgroup: reading /proc/self/cgroup: open proc/self/cgroup: file does not exist"},
		{"not mounted (faasd)", unmountedFS("0::/\n", nil), true, math.MaxInt64, math.MaxInt64,
			"memory limit: not set from the cgroup: /sys/fs/cgroup is not mounted in this container (faasd mounts no cgroup files), and nothing else in it holds the memory limit"},
		{"not mounted, GOMEMLIMIT set", unmountedFS("0::/\n", nil), true, 100 << 20, 100 << 20, "memory limit: set already (GOMEMLIMIT), left as it is"},
	}
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetMemoryLimit(tt.before)
			cfg := testConfig(t)
			cfg.AutoGoMemLimit = tt.auto
			logger, logs := newTestLogger()
			s, err := New(okHandler, WithConfig(cfg), WithLogger(logger), withMemoryLimit(tt.root))
			if err != nil {
				t.Fatal(err)
			}
			s.applyMemoryLimit()
			if got := debug.SetMemoryLimit(-1); got != tt.want {
				t.Errorf("memory limit %d, want %d", got, tt.want)
			}
			recs := logs.records(t)
			switch {
			case tt.msg == "" && len(recs) != 0:
				t.Errorf("logged %v, want nothing", recs)
			case tt.msg != "" && (len(recs) != 1 || recs[0]["msg"] != tt.msg):
				t.Errorf("logged %v, want one line %q", recs, tt.msg)
			}
			for _, r := range recs {
				if hint, _ := r["hint"].(string); r["level"] == "WARN" && !strings.Contains(hint, "set GOMEMLIMIT to 90% of the container's memory limit") {
					t.Errorf("warning's hint %q: want it to name GOMEMLIMIT and what to set", hint)
				}
			}
			if tt.name == "set from the cgroup" && (recs[0]["gomemlimit"] != "60397977B" || recs[0]["cgroup_limit"] != "64MiB" || recs[0]["from"] != "/sys/fs/cgroup/memory.max") {
				t.Errorf("line %v", recs[0])
			}
		})
	}
}

// Without Main's option nothing changes: New and Serve leave the process
// alone.
func TestNoMemoryLimitOutsideMain(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	s, err := New(okHandler, WithConfig(testConfig(t)))
	if err != nil {
		t.Fatal(err)
	}
	s.applyMemoryLimit()
	if got := debug.SetMemoryLimit(-1); got != old {
		t.Errorf("memory limit %d, was %d", got, old)
	}
}

func TestAutoGoMemLimitFromEnv(t *testing.T) {
	for env, want := range map[string]bool{"": true, "auto_gomemlimit=false": false, "auto_gomemlimit=0": false, "auto_gomemlimit=true": true} {
		cfg, err := ConfigFromEnv([]string{env})
		if err != nil || cfg.AutoGoMemLimit != want {
			t.Errorf("%q: %v %v, want %v", env, cfg.AutoGoMemLimit, err, want)
		}
	}
	_, err := ConfigFromEnv([]string{"auto_gomemlimit=off"})
	if err == nil || err.Error() != `auto_gomemlimit="off": want true or false (also 1 or 0)` {
		t.Errorf("auto_gomemlimit=off: %v", err)
	}
}

// New and Serve warn when the environment they read asks for
// auto_gomemlimit=true, which only Main applies; Main's Server does not.
func TestMemoryLimitIgnoredWarned(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  []string
		opts []Option
		want bool
	}{
		{"asked", []string{"auto_gomemlimit=true"}, nil, true},
		{"asked, 1", []string{"auto_gomemlimit=1"}, nil, true},
		{"not asked", nil, nil, false},
		{"turned off", []string{"auto_gomemlimit=false"}, nil, false},
		{"asked under Main", []string{"auto_gomemlimit=true"}, []Option{withMemoryLimit(cgroupFS("0::/\n", nil))}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(okHandler, append([]Option{WithEnv(tt.env)}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.memoryLimitIgnored(); got != tt.want {
				t.Errorf("env %q: warned %t, want %t", tt.env, got, tt.want)
			}
		})
	}
	// And Serve logs it.
	cfg := testConfig(t)
	ts := startServer(t, cfg, okHandler, WithEnv([]string{"auto_gomemlimit=true", "suppress_lock=true", "healthcheck_interval=20ms"}))
	testkit.WaitFor(t, 10*time.Second, "the warning", func() bool { return len(ts.logs.withMsg(t, memoryLimitIgnored)) == 1 })
	if l := ts.logs.withMsg(t, memoryLimitIgnored)[0]; l["level"] != "WARN" {
		t.Errorf("line %v, want a warning", l)
	}
}
