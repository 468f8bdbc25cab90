// Command bench measures the in-process templates against bare net/http, the
// contract's floor (bare net/http plus only what the function contract makes
// every template do per call) and a two-process, of-watchdog-like baseline,
// on images built from the templates' own Dockerfiles with the same echo
// handler, in two call shapes (tests/internal/callshape). It writes a
// markdown report, with every figure as a ratio to bare and to the floor,
// and an SVG chart of the ratios to bare.
//
// Run it through scripts/bench.sh, which installs what is missing and builds
// the local Go builder image first; see docs/benchmark.md for the method.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/inproc-go/templates/tests/internal/callshape"
)

// Options are the command line.
type Options struct {
	Rounds       int
	Duration     time.Duration // per measured point
	Warmup       time.Duration // before each measured point
	Conns        []int
	Shapes       []callshape.Shape // the kinds of call measured at each connection count
	Starts       int               // start-to-healthy samples per variant and round
	Settle       time.Duration     // quiet time before a memory reading
	Smoke        bool
	Out          string
	Repo         string
	GoImage      string
	ServerCPU    string
	ClientCPU    string
	ShipperCPU   string // where conmon runs: "server", "client" or "unpinned"
	KeepBinaries string
	Command      string // the command line shown in the report
	// Before each measured point, wait up to QuietWait for a second in
	// which other work kept some task waiting for a CPU less than
	// QuietPressure percent of the time (PSI); 0 disables the wait.
	QuietWait     time.Duration
	QuietPressure float64
}

const usageText = `Usage: bench [flags]

Builds five images (bare net/http, the contract's floor,
golang-middleware-inproc, golang-http-inproc, a two-process reverse-proxy
baseline), all echoing the request body, and measures binary and image
size, memory idle and after load, thread wakeups while idle, time from
"podman run" to the first /_/health 200, and wrk throughput, p50/p99
latency and CPU per call at each connection count and call shape. Rounds
interleave the variants (order rotated each round); every figure is also
given as a ratio to bare net/http and to the floor in the same round, and
the report shows medians.

Writes benchmark.md and benchmark.svg to -out (default: the repository's
docs/; with -smoke: a new temp dir). Needs root, podman, buildah, wrk,
taskset and the local builder image (scripts/bench.sh sees to all that).

Flags:
`

func parseFlags(args []string, output io.Writer) (Options, error) {
	o := Options{Duration: 5 * time.Second, Warmup: 2 * time.Second, QuietWait: 30 * time.Second}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	// Errors are returned, not printed with the whole usage text; -h prints it.
	fs.SetOutput(io.Discard)
	conns, shapes := "1,16,64", "plain,gateway"
	fs.IntVar(&o.Rounds, "rounds", 5, "rounds; every variant is measured once per round")
	fs.Var((*seconds)(&o.Duration), "duration", "wrk duration of each measured point, in whole seconds (5 or 5s)")
	fs.Var((*seconds)(&o.Warmup), "warmup", "wrk warm-up before each measured point, in whole seconds (0 = none)")
	fs.StringVar(&conns, "conns", conns, "comma-separated concurrent keep-alive connection counts")
	fs.StringVar(&shapes, "shapes", shapes, "comma-separated call shapes measured at each connection count:\nplain, gateway (the OpenFaaS gateway's request headers; see tests/internal/callshape)")
	fs.IntVar(&o.Starts, "starts", 3, "start-to-healthy samples per variant and round (median taken)")
	fs.DurationVar(&o.Settle, "settle", 2*time.Second, "quiet time before each memory reading")
	fs.BoolVar(&o.Smoke, "smoke", false, "quick check: 1 round, 1s points, 1 and 16 connections, output to a temp dir;\nfails unless every figure was produced")
	check := fs.Bool("check", false, "check the flags and exit (scripts/bench.sh does so before installing anything)")
	fs.StringVar(&o.Out, "out", "", "output directory (default: REPO/docs, or a temp dir with -smoke)")
	fs.StringVar(&o.Repo, "repo", "", "repository root (default: found above the working directory)")
	fs.StringVar(&o.GoImage, "go-image", "localhost/inproc-go/golang:local", "GO_IMAGE build arg: the builder image (scripts/ci/builder-image.sh makes it)")
	fs.StringVar(&o.ServerCPU, "server-cpu", "0", "CPU the containers are pinned to (podman --cpuset-cpus)")
	fs.StringVar(&o.ClientCPU, "client-cpu", "1", "CPU wrk is pinned to (taskset -c)")
	fs.StringVar(&o.ShipperCPU, "shipper-cpu", "server", "where the log shipper (conmon) runs: server (the server's CPU, as on a node),\nclient (wrk's CPU, which hides its share) or unpinned")
	fs.StringVar(&o.KeepBinaries, "keep-binaries", "", "copy every variant's binaries into this directory")
	fs.Var((*seconds)(&o.QuietWait), "quiet-wait", "before each point, wait up to this many whole seconds for the machine to be quiet (0 = don't)")
	fs.Float64Var(&o.QuietPressure, "quiet-pressure", 5, "quiet means CPU pressure (PSI some, over 1s) below this percent")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(output)
			fmt.Fprint(output, usageText)
			fs.PrintDefaults()
		}
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.Smoke {
		if !set["rounds"] {
			o.Rounds = 1
		}
		if !set["duration"] {
			o.Duration = time.Second
		}
		if !set["warmup"] {
			o.Warmup = time.Second
		}
		if !set["conns"] {
			conns = "1,16"
		}
		if !set["starts"] {
			o.Starts = 1
		}
		if !set["settle"] {
			o.Settle = 500 * time.Millisecond
		}
		if !set["quiet-wait"] {
			o.QuietWait = 0
		}
	}
	var err error
	if o.Conns, err = parseConns(conns); err != nil {
		return o, err
	}
	if o.Shapes, err = callshape.Parse(shapes); err != nil {
		return o, fmt.Errorf("-shapes: %w", err)
	}
	switch {
	case o.Rounds < 1:
		return o, fmt.Errorf("-rounds %d: want 1 or more", o.Rounds)
	case o.Duration < time.Second:
		return o, fmt.Errorf("-duration %s: want at least 1 second", o.Duration)
	case o.Starts < 1:
		return o, fmt.Errorf("-starts %d: want 1 or more", o.Starts)
	case o.Settle < 0:
		return o, fmt.Errorf("-settle %s: want 0 or more", o.Settle)
	case o.QuietWait < 0 || o.QuietPressure <= 0 || o.QuietPressure > 100:
		return o, fmt.Errorf("-quiet-wait %s / -quiet-pressure %g: want a wait of 0 or more and a percent in (0, 100]", o.QuietWait, o.QuietPressure)
	case o.ShipperCPU != "server" && o.ShipperCPU != "client" && o.ShipperCPU != "unpinned":
		return o, fmt.Errorf("-shipper-cpu %q: want server, client or unpinned", o.ShipperCPU)
	case o.ServerCPU == o.ClientCPU:
		return o, fmt.Errorf("-server-cpu and -client-cpu are both %s: the server and wrk must not share a core", o.ServerCPU)
	}
	o.Command = os.Getenv("BENCH_COMMAND")
	if o.Command == "" {
		o.Command = "go run ./bench " + strings.Join(args, " ")
	}
	if *check {
		return o, errChecked
	}
	return o, nil
}

// errChecked is parseFlags' answer to -check when every flag is good.
var errChecked = errors.New("flags checked")

// seconds is a flag of whole seconds, wrk's unit: "5", "5s" or "1m".
type seconds time.Duration

func (s *seconds) String() string { return time.Duration(*s).String() }

func (s *seconds) Set(v string) error {
	d, err := time.ParseDuration(v)
	if n, nerr := strconv.Atoi(v); nerr == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil || d < 0 || d%time.Second != 0 {
		return fmt.Errorf("want whole seconds, e.g. 5 or 5s")
	}
	*s = seconds(d)
	return nil
}

func parseConns(s string) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 10000 {
			return nil, fmt.Errorf("-conns %q: want comma-separated counts from 1 to 10000", s)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errChecked) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\nRun with -h for usage.\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cs := &containers{}
	err = run(ctx, o, cs)
	cs.removeAll()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "bench: interrupted; containers removed")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Round holds one round's figures: variant key -> metric key -> value.
type Round struct {
	Order   []string
	Figures map[string]map[string]float64
}

// Result is a whole run.
type Result struct {
	Options  Options
	Variants []*Variant
	Rounds   []Round
	Machine  Machine
	Started  time.Time
	Took     time.Duration
	Build    time.Duration
	Warnings []string
}

func run(ctx context.Context, o Options, cs *containers) error {
	started := time.Now()
	if err := preflight(ctx, &o); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "inproc-bench.")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if o.Out == "" {
		if o.Smoke {
			if o.Out, err = os.MkdirTemp("", "inproc-bench-smoke."); err != nil {
				return err
			}
		} else {
			o.Out = filepath.Join(o.Repo, "docs")
		}
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	if o.KeepBinaries != "" {
		if err := os.MkdirAll(o.KeepBinaries, 0o755); err != nil {
			return err
		}
	}

	res := &Result{Options: o, Variants: variants(), Started: started, Machine: describeMachine(ctx, o.Repo)}
	if left, _ := podman(ctx, "ps", "-a", "--filter", "label="+BenchLabel, "--format", "{{.Names}}"); left != "" {
		w := "containers left by an earlier run are present (podman rm -f them): " + strings.ReplaceAll(left, "\n", " ")
		logf("warning: %s", w)
		res.Warnings = append(res.Warnings, w)
	}

	logf("building %d images (layer cache on)", len(res.Variants))
	if res.Build, err = buildImages(ctx, o.Repo, o.GoImage, work, res.Variants, logf); err != nil {
		return err
	}
	sizes := map[string]Sizes{}
	for _, v := range res.Variants {
		s, err := imageSizes(ctx, v, o.KeepBinaries)
		if err != nil {
			return err
		}
		sizes[v.Key] = s
		logf("%s: binary %d B, image %d B", v.Key, s.Binary, s.Image)
	}

	body := requestBody()
	scripts := map[string]string{}
	for _, sh := range o.Shapes {
		scripts[sh.Name] = filepath.Join(work, sh.Name+".lua")
		if err := os.WriteFile(scripts[sh.Name], []byte(wrkScript(body, sh)), 0o644); err != nil {
			return err
		}
	}

	n := len(points(o))
	estimate := time.Duration(o.Rounds*len(res.Variants)) *
		(time.Duration(n)*(o.Duration+o.Warmup) + 2*o.Settle + time.Duration(o.Starts)*2*time.Second)
	logf("%d rounds x %d variants, %d points each (%s warm-up + %s); about %s",
		o.Rounds, len(res.Variants), n, o.Warmup, o.Duration, estimate.Round(time.Second))

	for r := 0; r < o.Rounds; r++ {
		round := Round{Figures: map[string]map[string]float64{}}
		for i := range res.Variants {
			v := res.Variants[(i+r)%len(res.Variants)]
			round.Order = append(round.Order, v.Key)
			figs, err := measureVariant(ctx, o, cs, v, r, scripts, body)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, v.Key, err)
			}
			figs["binary"] = float64(sizes[v.Key].Binary)
			figs["image"] = float64(sizes[v.Key].Image)
			round.Figures[v.Key] = figs
		}
		res.Rounds = append(res.Rounds, round)
		logf("round %d/%d done (%s so far)", r+1, o.Rounds, time.Since(started).Round(time.Second))
	}
	res.Took = time.Since(started)

	rep := summarize(res)
	md := renderMarkdown(res, rep)
	svg := renderSVG(res, rep)
	mdPath, svgPath := filepath.Join(o.Out, "benchmark.md"), filepath.Join(o.Out, "benchmark.svg")
	if err := writeReport(mdPath, md); err != nil {
		return err
	}
	if err := os.WriteFile(svgPath, []byte(svg), 0o644); err != nil {
		return err
	}
	fmt.Println(renderSummaryTable(res, rep))
	logf("wrote %s and %s in %s (build %s)", mdPath, svgPath, res.Took.Round(time.Second), res.Build.Round(time.Second))

	if missing := missingFigures(res); len(missing) > 0 {
		return fmt.Errorf("figures not produced: %s", strings.Join(missing, ", "))
	}
	if o.Smoke {
		logf("smoke: every figure was produced for %d variants", len(res.Variants))
	}
	return nil
}

// preflight fills in the repository root and checks the tools.
func preflight(ctx context.Context, o *Options) error {
	if o.Repo == "" {
		dir, err := os.Getwd()
		if err != nil {
			return err
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "scripts", "ci", "build-function.sh")); err == nil {
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return errors.New("repository root not found above the working directory (use -repo)")
			}
			dir = parent
		}
		o.Repo = dir
	}
	for _, tool := range []string{"podman", "buildah", "wrk", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found on PATH (scripts/bench.sh installs what is missing)", tool)
		}
	}
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("need 2 CPUs to pin the server and wrk apart, have %d", runtime.NumCPU())
	}
	if _, err := podman(ctx, "image", "exists", o.GoImage); err != nil {
		return fmt.Errorf("builder image %s not found: run scripts/ci/builder-image.sh", o.GoImage)
	}
	return nil
}

// measureVariant is one variant's share of a round: start (Starts times),
// idle memory, an echo check, wrk at each connection count in each call
// shape (scripts holds wrk's script for each), memory after load.
func measureVariant(ctx context.Context, o Options, cs *containers, v *Variant, round int, scripts map[string]string, body string) (map[string]float64, error) {
	figs := map[string]float64{}
	var starts []float64
	var running *Running
	for s := 0; s < o.Starts; s++ {
		name := fmt.Sprintf("inproc-bench-%d-%s-r%d-s%d", os.Getpid(), v.Key, round+1, s+1)
		r, took, err := startContainer(ctx, cs, v, name, o.ServerCPU, 60*time.Second)
		if err != nil {
			_ = cs.remove(name)
			return nil, err
		}
		starts = append(starts, took.Seconds()*1000)
		if s < o.Starts-1 {
			if err := cs.remove(name); err != nil {
				return nil, err
			}
			continue
		}
		running = r
	}
	defer func() { _ = cs.remove(running.Name) }()
	figs["start"] = median(starts)

	pid, err := hostPID(ctx, running.Name)
	if err != nil {
		return nil, err
	}
	// conmon, podman's monitor, is the container's parent: it carries the
	// container's stdout and stderr to the log file, outside the container.
	conmon, err := parentOf(pid)
	if err != nil {
		return nil, err
	}
	if err := pinShipper(ctx, o, conmon); err != nil {
		return nil, err
	}
	if err := sleep(ctx, o.Settle); err != nil {
		return nil, err
	}
	idle, err := readMemory(ctx, running.Name, pid)
	if err != nil {
		return nil, err
	}
	putMemory(figs, "idle", idle)
	if err := checkEcho(running, body); err != nil {
		return nil, err
	}

	for _, p := range points(o) {
		if err := measurePoint(ctx, o, v, pid, conmon, p, scripts[p.shape.Name], running.URL, figs); err != nil {
			return nil, err
		}
	}

	// Idle wakeups are counted over the second half of the quiet spell after
	// the load, past the last batch of log lines and the runtime's own
	// after-work (measured: a few wakeups in the first 100-200 ms).
	if err := sleep(ctx, o.Settle/2); err != nil {
		return nil, err
	}
	tree, err := processTree("/proc", pid)
	if err != nil {
		return nil, err
	}
	woken0, err := wakeups("/proc", tree)
	if err != nil {
		return nil, err
	}
	quietFrom := time.Now()
	if err := sleep(ctx, o.Settle-o.Settle/2); err != nil {
		return nil, err
	}
	woken1, err := wakeups("/proc", tree)
	if err != nil {
		return nil, err
	}
	figs["idle_wakeups"] = (woken1 - woken0) / time.Since(quietFrom).Seconds()
	loaded, err := readMemory(ctx, running.Name, pid)
	if err != nil {
		return nil, err
	}
	putMemory(figs, "load", loaded)
	logf("round %d %-10s start %6.0f ms, idle RssAnon %5.2f MiB, load RssAnon %5.2f MiB, %s",
		round+1, v.Key, figs["start"], idle.RssAnon/(1<<20), loaded.RssAnon/(1<<20), rpsSummary(figs, o))
	return figs, nil
}

// measurePoint runs wrk at one point, after its warm-up and a wait for a
// quiet machine, and puts the point's figures into figs.
func measurePoint(ctx context.Context, o Options, v *Variant, pid, conmon int, p point, script, url string, figs map[string]float64) error {
	c := p.conns
	if o.Warmup > 0 {
		if _, out, err := runWrk(ctx, o.ClientCPU, c, o.Warmup, script, url); err != nil {
			return fmt.Errorf("warm-up at %s: %w\n%s", p, err, out)
		}
	}
	waited, quiet, err := waitQuiet(ctx, o.QuietWait, o.QuietPressure)
	if err != nil {
		return err
	}
	figs[p.key("quietwait")] = waited.Seconds()
	if !quiet {
		figs[p.key("notquiet")] = 1
		logf("%s at %s: the machine was not quiet within %s; measuring anyway", v.Key, p, o.QuietWait)
	}
	tree, err := processTree("/proc", pid)
	if err != nil {
		return err
	}
	cpu0, err := cpuTicks(tree)
	if err != nil {
		return err
	}
	log0, err := cpuTicks([]int{conmon})
	if err != nil {
		return err
	}
	psi0, psiOK := cpuPressure()
	t0 := time.Now()
	l, out, err := runWrk(ctx, o.ClientCPU, c, o.Duration, script, url)
	if err != nil {
		return fmt.Errorf("wrk at %s: %w\n%s", p, err, out)
	}
	wall := time.Since(t0)
	psi1, _ := cpuPressure()
	cpu1, err := cpuTicks(tree)
	if err != nil {
		return err
	}
	log1, err := cpuTicks([]int{conmon})
	if err != nil {
		return err
	}
	if l.Requests == 0 || l.Non2xx > 0 {
		return fmt.Errorf("wrk at %s: %d requests, %d not 2xx: the variant is broken\n%s", p, l.Requests, l.Non2xx, out)
	}
	if l.Errors > 0 {
		logf("%s at %s: %d socket errors (kept; see wrk output)\n%s", v.Key, p, l.Errors, out)
	}
	figs[p.key("rps")] = l.RPS
	figs[p.key("p50")] = l.P50 * 1000
	figs[p.key("p99")] = l.P99 * 1000
	figs[p.key("errors")] = float64(l.Errors)
	// CPU per call, in microseconds; the whole run's CPU over wrk's count.
	figs[p.key("cpu")] = (cpu1 - cpu0) / userHZ * 1e6 / float64(l.Requests)
	figs[p.key("logcpu")] = (log1 - log0) / userHZ * 1e6 / float64(l.Requests)
	figs[p.key("nodecpu")] = figs[p.key("cpu")] + figs[p.key("logcpu")]
	if psiOK {
		figs[p.key("psi")] = (psi1 - psi0) / float64(wall.Microseconds()) * 100
	}
	return nil
}

// A point is one load: a connection count and a call shape.
type point struct {
	conns int
	shape callshape.Shape
}

// points lists o's points, connection counts outermost.
func points(o Options) []point {
	var ps []point
	for _, c := range o.Conns {
		for _, sh := range o.Shapes {
			ps = append(ps, point{c, sh})
		}
	}
	return ps
}

// key names figure base at p: "rps_16" for plain calls, "rps_16_gateway"
// for another shape.
func (p point) key(base string) string {
	k := fmt.Sprintf("%s_%d", base, p.conns)
	if p.shape.Name != callshape.Plain.Name {
		k += "_" + p.shape.Name
	}
	return k
}

func (p point) String() string {
	return fmt.Sprintf("%d connections, %s", p.conns, p.shape.Label)
}

func rpsSummary(figs map[string]float64, o Options) string {
	var parts []string
	for _, p := range points(o) {
		parts = append(parts, fmt.Sprintf("c%d %s %.0f rps p99 %.2f ms", p.conns, p.shape.Name, figs[p.key("rps")], figs[p.key("p99")]))
	}
	return strings.Join(parts, ", ")
}

func putMemory(figs map[string]float64, prefix string, m Memory) {
	figs[prefix+"_podman"] = m.Podman
	figs[prefix+"_rssanon"] = m.RssAnon
	figs[prefix+"_vmrss"] = m.VmRSS
	figs[prefix+"_vmhwm"] = m.VmHWM
	figs[prefix+"_procs"] = float64(m.Procs)
}

// waitQuiet waits until a one-second window has CPU pressure below limit
// percent, for at most max; it reports how long it waited and whether the
// machine was quiet. Without PSI, or with max 0, it returns at once.
func waitQuiet(ctx context.Context, max time.Duration, limit float64) (time.Duration, bool, error) {
	start := time.Now()
	if max <= 0 {
		return 0, true, nil
	}
	for {
		p0, ok := cpuPressure()
		if !ok {
			return 0, true, nil
		}
		t0 := time.Now()
		if err := sleep(ctx, time.Second); err != nil {
			return 0, false, err
		}
		p1, _ := cpuPressure()
		if (p1-p0)/float64(time.Since(t0).Microseconds())*100 < limit {
			return time.Since(start), true, nil
		}
		if time.Since(start) >= max {
			return time.Since(start), false, nil
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// missingFigures lists every figure of the report that some variant lacks
// in some round, or that is not a positive finite number.
func missingFigures(res *Result) []string {
	var missing []string
	for ri, r := range res.Rounds {
		for _, v := range res.Variants {
			for _, m := range metrics(res.Options) {
				x, ok := r.Figures[v.Key][m.Key]
				if !ok || x < 0 || (x == 0 && !m.NoRatio) || math.IsNaN(x) || math.IsInf(x, 0) {
					missing = append(missing, fmt.Sprintf("round %d %s %s", ri+1, v.Key, m.Key))
				}
			}
		}
	}
	if len(res.Rounds) != res.Options.Rounds {
		missing = append(missing, fmt.Sprintf("%d of %d rounds", len(res.Rounds), res.Options.Rounds))
	}
	return missing
}
