// Command idleparts accounts for a function's idle memory piece by piece:
// it builds bare net/http's echo server alone and with each start-up part
// the watchdog has (a second port, its metrics library, call ids, slog,
// SIGTERM handling; see echo/ and parts below), runs each pinned to one CPU,
// and prints each one's idle RssAnon, VmRSS and threads beside bare's, as a
// markdown table. Binaries named on the command line (a template's function,
// say) are measured too.
//
// Usage, from tests/: go run ./bench/cmd/idleparts [-rounds N] [-cpu C] [-settle D] [-detail] [BINARY...]
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/inproc-go/templates/tests/internal/freeport"
)

// build is one echo binary: a row's name and the build tags of echo/.
type build struct{ name, tags string }

// parts are the echo builds measured, bare first.
var parts = []build{
	{"bare", ""},
	{"+ second port (trivial handler)", "port2"},
	{"+ metrics library, no second port", "metricsinit"},
	{"+ metrics library on the second port", "metrics"},
	{"+ call id (math/rand/v2)", "callid"},
	{"+ slog", "slog"},
	{"+ signal.Notify(SIGTERM, SIGINT)", "signal"},
	{"+ all the watchdog's (metrics on the second port, call id, slog, signal)", "metrics,callid,slog,signal"},
}

// detail are the pieces of the larger parts, measured with -detail.
var detail = []build{
	{"+ the metrics library's name regexp", "detail_regexp"},
	{"+ the metrics library's runtime/metrics index", "detail_runtimemetrics"},
	{"+ the metrics library's cgroup and PSI reads", "detail_cgroupfiles"},
	{"+ one OS thread held blocked", "detail_thread"},
	{"+ two OS threads held blocked", "detail_thread,detail_thread2"},
}

type variant struct {
	name, bin string
	size      int64
	rss       map[string][]float64 // status field -> kB per round
	threads   []float64
}

func main() {
	rounds := flag.Int("rounds", 3, "rounds; every binary is started once per round")
	cpu := flag.String("cpu", "0", "CPU each binary is pinned to (taskset -c)")
	settle := flag.Duration("settle", 2*time.Second, "idle time after the first answer before memory is read")
	withDetail := flag.Bool("detail", false, "also measure the pieces of the metrics library's init and of signal.Notify's threads, one at a time")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "Usage, from tests/: go run ./bench/cmd/idleparts [flags] [BINARY...]\n\nMeasures idle memory of bare net/http with each of the watchdog's start-up parts, and of any BINARY given.\n\nFlags:")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *rounds < 1 || *settle < 0 {
		fmt.Fprintln(os.Stderr, "idleparts: -rounds wants 1 or more, -settle 0 or more")
		os.Exit(2)
	}
	builds := parts
	if *withDetail {
		builds = append(slices.Clip(builds), detail...)
	}
	if err := run(builds, *rounds, *cpu, *settle, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "idleparts:", err)
		os.Exit(1)
	}
}

func run(builds []build, rounds int, cpu string, settle time.Duration, extra []string) error {
	dir, err := os.MkdirTemp("", "idleparts")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var vs []*variant
	for _, p := range builds {
		bin := filepath.Join(dir, "echo-"+strings.ReplaceAll(p.tags, ",", "-"))
		goBuild := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-tags", p.tags, "-o", bin, "./bench/cmd/idleparts/echo")
		goBuild.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := goBuild.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s (run from tests/): %v\n%s", p.name, err, out)
		}
		vs = append(vs, &variant{name: p.name, bin: bin})
	}
	for _, b := range extra {
		abs, err := filepath.Abs(b)
		if err != nil {
			return err
		}
		vs = append(vs, &variant{name: filepath.Base(b), bin: abs})
	}
	for _, v := range vs {
		st, err := os.Stat(v.bin)
		if err != nil {
			return err
		}
		v.size, v.rss = st.Size(), map[string][]float64{}
	}
	for r := range rounds {
		for _, v := range vs {
			if err := measure(v, cpu, settle, dir, r); err != nil {
				return fmt.Errorf("%s: %w", v.name, err)
			}
		}
	}
	fmt.Printf("| binary | size | idle RssAnon | ratio | RssAnon range | idle VmRSS | threads |\n|---|---|---|---|---|---|---|\n")
	bare := median(vs[0].rss["RssAnon"])
	for _, v := range vs {
		anon := median(v.rss["RssAnon"])
		fmt.Printf("| %s | %d | %.0f kB | %.2f× | %.0f–%.0f kB | %.0f kB | %.0f |\n", v.name, v.size, anon, anon/bare,
			slices.Min(v.rss["RssAnon"]), slices.Max(v.rss["RssAnon"]), median(v.rss["VmRSS"]), median(v.threads))
	}
	fmt.Printf("\nMedians of %d round(s) (the range: lowest and highest); each binary pinned to CPU %s, read %s after its first answer.\n", rounds, cpu, settle)
	return nil
}

// measure starts v, waits for its first HTTP answer, lets it idle for
// settle, reads its memory and kills it.
func measure(v *variant, cpu string, settle time.Duration, dir string, round int) error {
	ports, err := freeport.Get(2)
	if err != nil {
		return err
	}
	port, metricsPort := ports[0], ports[1]
	cmd := exec.Command("taskset", "-c", cpu, v.bin)
	cmd.Env = []string{"port=" + strconv.Itoa(port), "metrics_port=" + strconv.Itoa(metricsPort),
		"lock_file=" + filepath.Join(dir, fmt.Sprintf("lock-%d", round)), "PATH=/usr/bin:/bin"}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/_/health", port), nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer on port %d within 10s", port)
		case <-time.After(10 * time.Millisecond):
		}
	}
	time.Sleep(settle)
	// taskset execs the binary, so the pid is the binary's.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		key := strings.TrimSuffix(f[0], ":")
		x, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch key {
		case "RssAnon", "VmRSS":
			v.rss[key] = append(v.rss[key], x)
		case "Threads":
			v.threads = append(v.threads, x)
		}
	}
	if len(v.rss["RssAnon"]) != round+1 || len(v.threads) != round+1 {
		return fmt.Errorf("no RssAnon or Threads in /proc/%d/status", cmd.Process.Pid)
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
