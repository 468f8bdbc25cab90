package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/inproc-go/templates/tests/internal/callshape"
	"github.com/inproc-go/templates/tests/internal/freeport"
	"github.com/inproc-go/templates/tests/internal/wait"
)

// probeClient asks for health without keep-alive and never via a proxy:
// every target is on 127.0.0.1.
var probeClient = &http.Client{
	Timeout:   time.Second,
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

// Running is one started container.
type Running struct {
	Name string
	Port int
	URL  string
}

// startContainer runs v's image pinned to serverCPU and returns once
// /_/health answers 200 (the bare server answers every path 200), with the
// time from launching "podman run" to that first 200.
func startContainer(ctx context.Context, cs *containers, v *Variant, name, serverCPU string, timeout time.Duration) (*Running, time.Duration, error) {
	ports, err := freeport.Get(1)
	if err != nil {
		return nil, 0, err
	}
	port := ports[0]
	r := &Running{Name: name, Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	args := []string{"run", "-d", "--name", name, "--label", BenchLabel + "=1",
		"--cpuset-cpus", serverCPU,
		"--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096",
		"-p", fmt.Sprintf("127.0.0.1:%d:8080", port), v.Image}

	cs.add(name)
	start := time.Now()
	runDone := make(chan error, 1)
	go func() {
		_, err := podman(ctx, args...)
		runDone <- err
	}()

	launched := false
	// podman run -d returns once the container runs: a failed run ends the
	// wait, a finished one is not waited for again.
	runFailed := func() error {
		if launched {
			return nil
		}
		select {
		case err := <-runDone:
			launched = true
			return err
		default:
			return nil
		}
	}
	err = wait.Healthy(ctx, probeClient, r.URL+"/_/health", timeout, 5*time.Millisecond, runFailed)
	took := time.Since(start)
	switch {
	case errors.Is(err, wait.ErrTimeout):
		logs, _ := podman(context.Background(), "logs", "--tail", "20", name)
		return r, 0, fmt.Errorf("%s: %w; last logs:\n%s", name, err, logs)
	case err != nil:
		return r, 0, err
	}
	if !launched {
		if err := <-runDone; err != nil {
			return r, 0, err
		}
	}
	return r, took, nil
}

// checkEcho makes one call and checks the variant echoes the body and the
// request's Content-Type, so every variant is known to do the same work
// before it is measured.
func checkEcho(r *Running, body string) error {
	res, err := probeClient.Post(r.URL+"/", callshape.ContentType, strings.NewReader(body))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || string(got) != body || ct != callshape.ContentType {
		return fmt.Errorf("%s: POST / answered %d, Content-Type %q, %q; want 200 and the body back with its Content-Type %q",
			r.Name, res.StatusCode, ct, truncate(string(got), 80), callshape.ContentType)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Memory is one reading of a container's memory, in bytes.
type Memory struct {
	Podman  float64 // podman stats --no-stream, cgroup usage
	RssAnon float64 // summed over the container's process tree
	VmRSS   float64
	VmHWM   float64
	Procs   int
}

// hostPID is the host pid of the container's first process.
func hostPID(ctx context.Context, name string) (int, error) {
	pidText, err := podman(ctx, "inspect", "--format", "{{.State.Pid}}", name)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: no host pid (%q)", name, pidText)
	}
	return pid, nil
}

// readMemory reads podman stats and /proc/PID/status of every process in the
// container: pid (its host pid) and its descendants.
func readMemory(ctx context.Context, name string, pid int) (Memory, error) {
	var m Memory
	out, err := podman(ctx, "stats", "--no-stream", "--format", "json", name)
	if err != nil {
		return m, err
	}
	if m.Podman, err = parseStatsJSON(out); err != nil {
		return m, err
	}
	pids, err := processTree("/proc", pid)
	if err != nil {
		return m, err
	}
	for _, p := range pids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "status"))
		if err != nil {
			return m, err
		}
		st, err := parseStatus(b)
		if err != nil {
			return m, fmt.Errorf("/proc/%d/status: %w", p, err)
		}
		m.RssAnon += st.RssAnon
		m.VmRSS += st.VmRSS
		m.VmHWM += st.VmHWM
	}
	m.Procs = len(pids)
	return m, nil
}

// parseStatsJSON reads mem_usage ("2.159MB / 25.28GB") from podman stats'
// JSON output. podman prints decimal units.
func parseStatsJSON(out string) (float64, error) {
	var rows []struct {
		MemUsage string `json:"mem_usage"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 {
		return 0, fmt.Errorf("podman stats: unexpected output (%v): %s", err, truncate(out, 200))
	}
	used, _, _ := strings.Cut(rows[0].MemUsage, "/")
	return parseDecimalSize(strings.TrimSpace(used))
}

var sizeRE = regexp.MustCompile(`^([0-9.]+)\s*([kKMGT]?i?B)$`)

func parseDecimalSize(s string) (float64, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("size %q: not understood", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, err
	}
	mult := map[string]float64{"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit", s)
	}
	return n * mult, nil
}

type procStatus struct{ RssAnon, VmRSS, VmHWM float64 }

// parseStatus reads the kB figures of /proc/PID/status.
func parseStatus(b []byte) (procStatus, error) {
	var st procStatus
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *float64
		switch key {
		case "RssAnon":
			dst = &st.RssAnon
		case "VmRSS":
			dst = &st.VmRSS
		case "VmHWM":
			dst = &st.VmHWM
		default:
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return st, fmt.Errorf("%s: %q", key, val)
		}
		n, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return st, err
		}
		*dst = n * 1024
		found++
	}
	if found != 3 {
		return st, errors.New("RssAnon, VmRSS or VmHWM missing")
	}
	return st, nil
}

// processTree returns root and all its descendants, read from procfs.
func processTree(proc string, root int) ([]int, error) {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(proc, e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		ppid, err := parentPID(b)
		if err != nil {
			return nil, fmt.Errorf("%s/%d/stat: %w", proc, pid, err)
		}
		children[ppid] = append(children[ppid], pid)
	}
	if _, err := os.Stat(filepath.Join(proc, strconv.Itoa(root))); err != nil {
		return nil, fmt.Errorf("process %d: %w", root, err)
	}
	tree := []int{root}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree, nil
}

// parentOf returns the parent pid of pid.
func parentOf(pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	return parentPID(b)
}

// pinShipper moves conmon, which copies the container's output to its log,
// onto the CPU -shipper-cpu names: on a node the shipper shares the
// function's cores, so "server" charges the log bytes to the server as a
// node would.
func pinShipper(ctx context.Context, o Options, conmon int) error {
	cpu := ""
	switch o.ShipperCPU {
	case "server":
		cpu = o.ServerCPU
	case "client":
		cpu = o.ClientCPU
	default:
		return nil
	}
	if out, err := command(ctx, "taskset", "-a", "-p", "-c", cpu, strconv.Itoa(conmon)); err != nil {
		return fmt.Errorf("pinning conmon (pid %d) to CPU %s: %w\n%s", conmon, cpu, err, out)
	}
	return nil
}

// parentPID reads field 4 of /proc/PID/stat; the command name in field 2
// may hold spaces and parentheses, so fields are counted after the last ')'.
func parentPID(stat []byte) (int, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no ')'")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 {
		return 0, errors.New("too short")
	}
	return strconv.Atoi(f[1])
}

// cpuTicks is the user+system CPU time, in clock ticks (USER_HZ, 100 on
// Linux), of the given processes, dead threads included.
func cpuTicks(pids []int) (float64, error) {
	var sum float64
	for _, p := range pids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "stat"))
		if err != nil {
			return 0, err
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if i < 0 || len(f) < 13 {
			return 0, fmt.Errorf("/proc/%d/stat: too short", p)
		}
		// Fields after the command: state(0) ppid(1) ... utime(11) stime(12).
		for _, s := range f[11:13] {
			n, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return 0, err
			}
			sum += n
		}
	}
	return sum, nil
}

// wakeups sums the voluntary context switches of every thread of pids, read
// from proc (procfs): a thread counts one each time it sleeps after having
// been woken. Over an idle spell it shows what wakes a process that has
// nothing to do: tickers, timers, a runtime polling.
func wakeups(proc string, pids []int) (float64, error) {
	var sum float64
	for _, p := range pids {
		tasks, err := filepath.Glob(filepath.Join(proc, strconv.Itoa(p), "task", "*", "status"))
		if err != nil {
			return 0, err
		}
		if len(tasks) == 0 {
			return 0, fmt.Errorf("%s/%d/task: no threads", proc, p)
		}
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				return 0, err
			}
			n, err := parseSwitches(b)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", t, err)
			}
			sum += n
		}
	}
	return sum, nil
}

// parseSwitches reads voluntary_ctxt_switches from a status file.
func parseSwitches(b []byte) (float64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if key, val, ok := strings.Cut(sc.Text(), ":"); ok && key == "voluntary_ctxt_switches" {
			return strconv.ParseFloat(strings.TrimSpace(val), 64)
		}
	}
	return 0, errors.New("voluntary_ctxt_switches missing")
}

// userHZ is the unit of /proc/PID/stat's CPU times on Linux.
const userHZ = 100

// cpuPressure reads the "some" stall total of /proc/pressure/cpu in
// microseconds; ok is false where PSI is not available.
func cpuPressure() (float64, bool) {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "total="); ok {
			n, err := strconv.ParseFloat(v, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// Load is one wrk measurement.
type Load struct {
	RPS      float64
	P50, P99 float64 // seconds
	Requests int64
	Non2xx   int64
	Errors   int64 // socket errors of any kind
}

// runWrk runs wrk pinned to clientCPU with one thread and conns keep-alive
// connections for d, POSTing the body from script.
func runWrk(ctx context.Context, clientCPU string, conns int, d time.Duration, script, url string) (Load, string, error) {
	secs := int(d / time.Second)
	args := []string{"-c", clientCPU, "wrk", "-t1", "-c", strconv.Itoa(conns), "-d", strconv.Itoa(secs) + "s",
		"--timeout", "5s", "--latency", "-s", script, url + "/"}
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	out, err := command(ctx, "taskset", args...)
	if err != nil {
		return Load{}, out, err
	}
	l, err := parseWrk(out)
	return l, out, err
}

var (
	wrkPercentRE  = regexp.MustCompile(`(?m)^\s*(50|99)%\s+([0-9.]+)(us|ms|s|m|h)\s*$`)
	wrkRPSRE      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkRequestsRE = regexp.MustCompile(`(?m)^\s*([0-9]+) requests in `)
	wrkNon2xxRE   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s+([0-9]+)`)
	wrkSocketRE   = regexp.MustCompile(`(?m)^\s*Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)`)
)

// parseWrk reads wrk --latency output.
func parseWrk(out string) (Load, error) {
	var l Load
	m := wrkRPSRE.FindStringSubmatch(out)
	if m == nil {
		return l, fmt.Errorf("wrk: no Requests/sec in output:\n%s", out)
	}
	l.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m = wrkRequestsRE.FindStringSubmatch(out); m != nil {
		l.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	unit := map[string]float64{"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
	seen := 0
	for _, p := range wrkPercentRE.FindAllStringSubmatch(out, -1) {
		v, err := strconv.ParseFloat(p[2], 64)
		if err != nil {
			return l, err
		}
		v *= unit[p[3]]
		if p[1] == "50" {
			l.P50 = v
		} else {
			l.P99 = v
		}
		seen++
	}
	if seen != 2 {
		return l, fmt.Errorf("wrk: no 50%%/99%% latency lines (was --latency given?):\n%s", out)
	}
	if m = wrkNon2xxRE.FindStringSubmatch(out); m != nil {
		l.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m = wrkSocketRE.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			l.Errors += n
		}
	}
	return l, nil
}

// wrkScript is the Lua script that makes wrk POST body on every request,
// with the headers of call shape sh (wrk sends Host and Content-Length
// itself); with no per-request Lua functions wrk keeps its fast path.
func wrkScript(body string, sh callshape.Shape) string {
	s := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\n", body)
	for _, kv := range sh.Header {
		s += fmt.Sprintf("wrk.headers[%q] = %q\n", kv[0], kv[1])
	}
	return s
}

// requestBody is the same 128 bytes for every variant.
func requestBody() string {
	const unit = "inproc-bench-0123456789abcdefghijklmnopqrstuvwxyz-"
	return strings.Repeat(unit, 3)[:128]
}
