package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/inproc-go/templates/tests/internal/callshape"
)

// Metric is one figure of the report.
type Metric struct {
	Key    string
	Label  string
	Unit   string // "bytes", "ms", "rps"
	Higher bool   // higher is better
	Chart  string // label in the chart, "" to leave it out
	// NoRatio figures are shown as values only: bare net/http's is zero or
	// near it (it writes no logs), so a ratio would mean nothing.
	NoRatio bool
}

func metrics(o Options) []Metric {
	ms := []Metric{
		{Key: "binary", Label: "static binary size", Unit: "bytes", Chart: "binary"},
		{Key: "image", Label: "image size", Unit: "bytes", Chart: "image"},
		{Key: "start", Label: "podman run to first /_/health 200", Unit: "ms", Chart: "start"},
		{Key: "idle_podman", Label: "idle: podman stats memory", Unit: "bytes"},
		{Key: "idle_rssanon", Label: "idle: RssAnon", Unit: "bytes", Chart: "idle RssAnon"},
		{Key: "idle_vmrss", Label: "idle: VmRSS", Unit: "bytes", Chart: "idle VmRSS"},
		{Key: "idle_vmhwm", Label: "idle: VmHWM", Unit: "bytes"},

		{Key: "load_podman", Label: "after load: podman stats memory", Unit: "bytes"},
		{Key: "load_rssanon", Label: "after load: RssAnon", Unit: "bytes", Chart: "load RssAnon"},
		{Key: "load_vmrss", Label: "after load: VmRSS", Unit: "bytes"},
		{Key: "load_vmhwm", Label: "after load: VmHWM", Unit: "bytes", Chart: "load VmHWM"},
		{Key: "idle_wakeups", Label: "idle after load: thread wakeups per second", Unit: "/s", NoRatio: true},
	}
	// The chart shows the plain shape's throughput and p99 at every
	// connection count and the CPU per call at the highest, in every shape.
	last := o.Conns[len(o.Conns)-1]
	for _, p := range points(o) {
		at := fmt.Sprintf("%d conn", p.conns)
		chartAt := fmt.Sprintf("c%d", p.conns)
		if p.shape.Name != callshape.Plain.Name {
			at += ", " + p.shape.Name
			chartAt += " " + p.shape.Name
		}
		chart := func(name string, on bool) string {
			if !on {
				return ""
			}
			return name + " " + chartAt
		}
		plain := p.shape.Name == callshape.Plain.Name
		ms = append(ms,
			Metric{Key: p.key("rps"), Label: "throughput, " + at, Unit: "rps", Higher: true, Chart: chart("rps", plain)},
			Metric{Key: p.key("p50"), Label: "p50 latency, " + at, Unit: "ms"},
			Metric{Key: p.key("p99"), Label: "p99 latency, " + at, Unit: "ms", Chart: chart("p99", plain)},
			Metric{Key: p.key("cpu"), Label: "container CPU per call, " + at, Unit: "us", Chart: chart("CPU/call", p.conns == last)},
			Metric{Key: p.key("logcpu"), Label: "conmon (log shipping) CPU per call, " + at, Unit: "us", NoRatio: true},
			Metric{Key: p.key("nodecpu"), Label: "container + conmon CPU per call, " + at, Unit: "us"},
		)
	}
	return ms
}

// Stat is one figure of one variant over all rounds.
type Stat struct {
	Median float64 // median of the values
	// Ratio is the median of the per-round ratios to each base variant
	// (bareKey, floorKey); NaN where there is none.
	Ratio map[string]float64
}

// Report is the summary: variant key -> metric key -> Stat.
type Report map[string]map[string]Stat

// The variants every figure is a ratio to: bare net/http, and the
// contract's floor, bare plus what the contract makes every template do per
// call.
const bareKey, floorKey = "bare", "floor"

var bases = []string{bareKey, floorKey}

func summarize(res *Result) Report {
	rep := Report{}
	for _, v := range res.Variants {
		rep[v.Key] = map[string]Stat{}
		for _, m := range metrics(res.Options) {
			var vals []float64
			ratios := map[string][]float64{}
			for _, r := range res.Rounds {
				x, ok := r.Figures[v.Key][m.Key]
				if !ok {
					continue
				}
				vals = append(vals, x)
				for _, base := range bases {
					if b := r.Figures[base][m.Key]; b > 0 && !m.NoRatio {
						ratios[base] = append(ratios[base], x/b)
					}
				}
			}
			s := Stat{Median: median(vals), Ratio: map[string]float64{}}
			for _, base := range bases {
				s.Ratio[base] = median(ratios[base])
			}
			rep[v.Key][m.Key] = s
		}
	}
	return rep
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Target is one goal, checked against a template's median ratio to Base.
type Target struct {
	Metric string
	Label  string
	Base   string // bareKey or floorKey
	Limit  float64
	AtMost bool // ratio must be <= Limit, else >= Limit
}

// targets are the goals: size, memory and start against bare net/http,
// which the contract adds nothing to; per-call CPU, throughput and p99
// against the floor, in every call shape, since no template can serve a call
// for less than the contract costs.
func targets(o Options) []Target {
	ts := []Target{
		{"binary", "binary size ≤ 1.15× bare", bareKey, 1.15, true},
		{"image", "image size ≤ 1.15× bare", bareKey, 1.15, true},
		{"idle_rssanon", "idle RssAnon ≤ 1.15× bare", bareKey, 1.15, true},
		{"idle_vmrss", "idle VmRSS ≤ 1.25× bare", bareKey, 1.25, true},
		{"load_rssanon", "RssAnon after load ≤ 1.10× bare", bareKey, 1.10, true},
		{"start", "start to healthy ≤ 1.20× bare", bareKey, 1.20, true},
	}
	for _, p := range points(o) {
		at := fmt.Sprintf("%d conn, %s", p.conns, p.shape.Name)
		if p.conns >= 16 {
			ts = append(ts,
				Target{p.key("nodecpu"), "container + conmon CPU per call at " + at + " ≤ 1.10× the floor", floorKey, 1.10, true},
				Target{p.key("rps"), "throughput at " + at + " ≥ 0.90× the floor", floorKey, 0.90, false})
		}
		if p.conns == 16 {
			ts = append(ts, Target{p.key("p99"), "p99 at " + at + " ≤ 1.20× the floor", floorKey, 1.20, true})
		}
	}
	return ts
}

func (t Target) met(ratio float64) bool {
	if math.IsNaN(ratio) {
		return false
	}
	if t.AtMost {
		return ratio <= t.Limit
	}
	return ratio >= t.Limit
}

// notBeaten lists the figures on which a template is not better than the
// two-process baseline (medians compared; equal counts as not beaten, but
// for both at zero, a floor nothing can go below, such as idle wakeups).
func notBeaten(res *Result, rep Report, key string) []string {
	var out []string
	for _, m := range metrics(res.Options) {
		t, b := rep[key][m.Key].Median, rep["twoproc"][m.Key].Median
		better := t < b || (t == 0 && b == 0)
		if m.Higher {
			better = t > b
		}
		if !better {
			out = append(out, m.Label)
		}
	}
	return out
}

func templateKeys(res *Result) []string {
	var keys []string
	for _, v := range res.Variants {
		if v.Template != "" {
			keys = append(keys, v.Key)
		}
	}
	return keys
}

// missedTargets lists "variant: target (ratio)" for every missed target.
func missedTargets(res *Result, rep Report) []string {
	var out []string
	for _, k := range templateKeys(res) {
		for _, t := range targets(res.Options) {
			if r := rep[k][t.Metric].Ratio[t.Base]; !t.met(r) {
				out = append(out, fmt.Sprintf("%s: %s (%.2f×)", k, t.Label, r))
			}
		}
		if nb := notBeaten(res, rep, k); len(nb) > 0 {
			out = append(out, fmt.Sprintf("%s: two-process baseline not beaten on %s", k, strings.Join(nb, ", ")))
		}
	}
	return out
}

func formatValue(m Metric, x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	switch m.Unit {
	case "bytes":
		return fmt.Sprintf("%.2f MiB", x/(1<<20))
	case "rps":
		return fmt.Sprintf("%.0f", x)
	case "us":
		return fmt.Sprintf("%.1f µs", x)
	case "/s":
		return fmt.Sprintf("%.1f /s", x)
	case "ms":
		switch {
		case x >= 100:
			return fmt.Sprintf("%.0f ms", x)
		case x >= 1:
			return fmt.Sprintf("%.2f ms", x)
		default:
			return fmt.Sprintf("%.0f µs", x*1000)
		}
	}
	return fmt.Sprintf("%g", x)
}

func formatRatio(r float64) string {
	if math.IsNaN(r) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", r)
}

// ratios is a cell's bracket: the median ratios to bare and to the floor,
// leaving out a variant's ratio to itself and bare's to the floor.
func ratios(s Stat, key string) string {
	var parts []string
	for _, base := range bases {
		if base == key || (key == bareKey && base == floorKey) || s.Ratio == nil {
			continue
		}
		parts = append(parts, formatRatio(s.Ratio[base])+" "+base)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// renderSummaryTable is the main table: one row per figure, one column per
// variant, each cell the median and the median ratios to bare and the floor.
func renderSummaryTable(res *Result, rep Report) string {
	var b strings.Builder
	b.WriteString("| figure |")
	for _, v := range res.Variants {
		fmt.Fprintf(&b, " %s |", v.Label)
	}
	b.WriteString("\n|---|")
	for range res.Variants {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, m := range metrics(res.Options) {
		fmt.Fprintf(&b, "| %s |", m.Label)
		for _, v := range res.Variants {
			s := rep[v.Key][m.Key]
			if m.NoRatio {
				s.Ratio = nil
			}
			fmt.Fprintf(&b, " %s%s |", formatValue(m, s.Median), ratios(s, v.Key))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func renderTargets(res *Result, rep Report) string {
	var b strings.Builder
	keys := templateKeys(res)
	b.WriteString("| target (median of the per-round ratios) |")
	for _, k := range keys {
		fmt.Fprintf(&b, " %s |", labelOf(res, k))
	}
	fmt.Fprintf(&b, " %s (for reference) |\n|---|", labelOf(res, "twoproc"))
	for range keys {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	for _, t := range targets(res.Options) {
		fmt.Fprintf(&b, "| %s |", t.Label)
		for _, k := range keys {
			r := rep[k][t.Metric].Ratio[t.Base]
			fmt.Fprintf(&b, " %s %s |", formatRatio(r), mark(t.met(r)))
		}
		fmt.Fprintf(&b, " %s |\n", formatRatio(rep["twoproc"][t.Metric].Ratio[t.Base]))
	}
	b.WriteString("| two-process baseline beaten on every figure |")
	for _, k := range keys {
		nb := notBeaten(res, rep, k)
		if len(nb) == 0 {
			b.WriteString(" met |")
		} else {
			fmt.Fprintf(&b, " **missed**: not on %s |", strings.Join(nb, "; "))
		}
	}
	b.WriteString(" – |\n")
	return b.String()
}

func labelOf(res *Result, key string) string {
	for _, v := range res.Variants {
		if v.Key == key {
			return v.Label
		}
	}
	return key
}

// renderRounds lists every figure of every round, for anyone who wants to
// see the spread behind the medians.
func renderRounds(res *Result) string {
	var b strings.Builder
	b.WriteString("| figure | variant |")
	for i := range res.Rounds {
		fmt.Fprintf(&b, " round %d |", i+1)
	}
	b.WriteString("\n|---|---|")
	for range res.Rounds {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, m := range metrics(res.Options) {
		for _, v := range res.Variants {
			fmt.Fprintf(&b, "| %s | %s |", m.Label, v.Key)
			for _, r := range res.Rounds {
				x, ok := r.Figures[v.Key][m.Key]
				if !ok {
					x = math.NaN()
				}
				s := Stat{Ratio: map[string]float64{}}
				for _, base := range bases {
					s.Ratio[base] = math.NaN()
					if b0 := r.Figures[base][m.Key]; b0 > 0 {
						s.Ratio[base] = x / b0
					}
				}
				if m.NoRatio {
					s.Ratio = nil
				}
				fmt.Fprintf(&b, " %s%s |", formatValue(m, x), ratios(s, v.Key))
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\nVariant order per round: ")
	var orders []string
	for i, r := range res.Rounds {
		orders = append(orders, fmt.Sprintf("%d: %s", i+1, strings.Join(r.Order, ", ")))
	}
	b.WriteString(strings.Join(orders, "; ") + ".\n")
	return b.String()
}

func renderMarkdown(res *Result, rep Report) string {
	o := res.Options
	var b strings.Builder
	title := "Benchmark: in-process templates against bare net/http"
	if o.Smoke {
		title += " (smoke run: not a measurement)"
	}
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "Generated by `tests/bench` on %s (took %s, of which %s building images). ",
		res.Started.UTC().Format("2006-01-02 15:04 MST"), res.Took.Round(time.Second), res.Build.Round(time.Second))
	b.WriteString("The figures are from one machine and one day: compare the ratios, not the absolute numbers, with other machines.\n\n")
	b.WriteString("Reproduce (as root, from the repository root):\n\n```sh\n" + o.Command + "\n```\n\n")

	b.WriteString("![Ratios to bare net/http](benchmark.svg)\n\n")
	b.WriteString("## Results\n\n")
	fmt.Fprintf(&b, "Median over %d round(s); in brackets the medians of the per-round ratios to bare net/http and to the contract's floor (lower is better, except throughput). ", len(res.Rounds))
	b.WriteString("Memory is summed over the container's processes (two for the two-process baseline). MiB = 2^20 bytes.\n\n")
	b.WriteString(renderSummaryTable(res, rep))
	b.WriteString("\n## Targets\n\n")
	b.WriteString("Reported, not asserted. A template meets a target when the median of its per-round ratios to the target's base (bare net/http, or the contract's floor) does.\n\n")
	b.WriteString(renderTargets(res, rep))
	if missed := missedTargets(res, rep); len(missed) > 0 {
		b.WriteString("\nMissed:\n\n")
		for _, m := range missed {
			b.WriteString("- " + m + "\n")
		}
	} else {
		b.WriteString("\nEvery target was met.\n")
	}

	b.WriteString("\n## What is measured\n\n")
	b.WriteString(`Five images, each answering every POST with its body (128 bytes) and, when the request has one, its Content-Type, built on this machine with the same builder image (` + "`" + o.GoImage + "`" + `), ` + "`CGO_ENABLED=0`" + ` and ` + "`-trimpath -ldflags \"-s -w\"`" + `:

- **bare net/http**: ` + "`tests/bench/cmd/echo`" + `, ` + "`http.ListenAndServe`" + ` and the echo handler, alone in a scratch image (binary only). The physical limit.
- **the contract's floor**: the same binary with ` + "`-timeouts -headers=2`" + ` (` + "`tests/bench/images/floor.Dockerfile`" + `): bare net/http plus only what the function contract makes every template do per call, whatever its watchdog: serve with the templates' ` + "`http.Server`" + ` limits (read and write 10.1s, headers 10s, idle 2m, 1 MiB of headers) and answer with ` + "`X-Call-Id`" + ` and ` + "`X-Duration-Seconds`" + `. No template can serve a call for less, so the per-call targets are set against it.
- **golang-middleware-inproc** and **golang-http-inproc**: the templates' own Dockerfiles, built by ` + "`scripts/ci/build-function.sh`" + ` with an echo ` + "`Handle`" + ` (` + "`tests/bench/testdata/`" + `). Defaults throughout: access log on, metrics on :8081, exec_timeout 10s, lock file.
- **two-process baseline**: a stand-in for the classic of-watchdog in http mode. ` + "`tests/bench/cmd/proxy`" + ` (PID 1) forks the bare echo server on 127.0.0.1:8082, waits until it accepts, writes /tmp/.lock, answers /_/health itself and forwards everything else with ` + "`httputil.ReverseProxy`" + ` (1024 idle keep-alive connections to the child), logging one unbuffered line per call as of-watchdog does. It has no metrics endpoint and no timeouts, so it is a lighter baseline than the real thing; the image has the templates' layout (CA certificates, /tmp, non-root user).

Per round, in an order rotated each round, each variant is started ` + fmt.Sprint(o.Starts) + ` time(s) (` + "`podman --runtime runc run -d --cpuset-cpus " + o.ServerCPU + "`" + `, port 8080 published on 127.0.0.1 only; the time from launching ` + "`podman run`" + ` to the first 200 from /_/health, polled every 5 ms, is the start time, median of the starts); the last start is left idle for ` + o.Settle.String() + `, its memory read, one call checked to echo, and then, for each connection count (` + joinInts(o.Conns) + `) and call shape (` + shapeNames(o) + `), ` + "`taskset -c " + o.ClientCPU + " wrk -t1 -cN --latency`" + ` POSTs for ` + o.Warmup.String() + ` of warm-up (discarded) and ` + o.Duration.String() + ` measured, with keep-alive. After the last point and ` + o.Settle.String() + ` of quiet the memory is read again and the container removed; over the second half of that quiet spell the voluntary context switches of the container's threads (/proc/PID/task/*/status) are counted: the idle wakeups, what wakes a process that has nothing to do.

- ` + shapesText() + `
- The container is pinned to CPU ` + o.ServerCPU + ` (Go then runs with GOMAXPROCS=1) and wrk to CPU ` + o.ClientCPU + `, so the client does not steal the server's core.
- ` + shipperText(o) + `
- Memory: ` + "`podman stats --no-stream`" + ` (cgroup usage; noisy on cgroup v1, where the same idle image reads anywhere from 1.3 to 6.3 MB), and RssAnon, VmRSS and VmHWM from /proc/PID/status of the container's host PID (` + "`podman inspect --format '{{.State.Pid}}'`" + `) and all its descendants, summed. RssAnon is the Go heap and stacks actually touched; VmRSS adds the mapped binary pages; VmHWM is the peak VmRSS.
- Sizes: the image's size from ` + "`podman image inspect`" + `, the binaries' sizes from the mounted image (both binaries for the two-process baseline).
- Ratios are paired: each variant's figure divided by bare net/http's, and by the floor's, in the same round, then the median over rounds.

`)
	b.WriteString("## Machine\n\n")
	for _, line := range res.Machine.Lines() {
		b.WriteString("- " + line + "\n")
	}
	if p := pressureSummary(res); p != "" {
		b.WriteString("- " + p + "\n")
	}
	for _, w := range res.Warnings {
		b.WriteString("- warning: " + w + "\n")
	}
	b.WriteString("\n## Every round\n\n<details><summary>All figures, per round</summary>\n\n")
	b.WriteString(renderRounds(res))
	b.WriteString("\n</details>\n\n" + notesMarker + "\n")
	return b.String()
}

// notesMarker ends the generated part of benchmark.md: what follows it in
// an existing file (hand-written analysis) is kept when the file is rewritten.
const notesMarker = "<!-- Generated above; notes below this line are kept when the benchmark rewrites this file. -->"

// writeReport writes md to path, keeping the notes of an existing file.
func writeReport(path, md string) error {
	if old, err := os.ReadFile(path); err == nil {
		if _, notes, ok := strings.Cut(string(old), notesMarker+"\n"); ok {
			md = strings.TrimSuffix(md, notesMarker+"\n") + notesMarker + "\n" + notes
		}
	}
	return os.WriteFile(path, []byte(md), 0o644)
}

// pressureSummary tells how much other work competed for the CPUs during the
// measured points: the share of time some task waited for a CPU (PSI).
func pressureSummary(res *Result) string {
	var all []string
	var ps []float64
	for _, v := range res.Variants {
		var vp []float64
		for _, r := range res.Rounds {
			for _, c := range res.Options.Conns {
				if x, ok := r.Figures[v.Key][fmt.Sprintf("psi_%d", c)]; ok {
					vp = append(vp, x)
				}
			}
		}
		if len(vp) > 0 {
			all = append(all, fmt.Sprintf("%s %.0f%%", v.Key, median(vp)))
			ps = append(ps, vp...)
		}
	}
	if len(ps) == 0 {
		return ""
	}
	var waited float64
	notQuiet := 0
	for _, r := range res.Rounds {
		for _, figs := range r.Figures {
			for _, c := range res.Options.Conns {
				waited += figs[fmt.Sprintf("quietwait_%d", c)]
				if figs[fmt.Sprintf("notquiet_%d", c)] > 0 {
					notQuiet++
				}
			}
		}
	}
	s := fmt.Sprintf("CPU pressure during the measured points (/proc/pressure/cpu \"some\": share of time a task waited for a CPU), median by variant: %s; max %.0f%%. "+
		"It counts the load itself too (the two-process baseline's two processes share CPU %s; Go's extra threads; conmon, pinned as -shipper-cpu says), so it is not only other work",
		strings.Join(all, ", "), slices.Max(ps), res.Options.ServerCPU)
	if res.Options.QuietWait > 0 {
		s += fmt.Sprintf(". Before each point the run waited for a quiet second (pressure below %g%% with the container idle): %s of waiting in all; %d point(s) measured without one after %s",
			res.Options.QuietPressure, time.Duration(waited*float64(time.Second)).Round(time.Second), notQuiet, res.Options.QuietWait)
	}
	return s
}

// shipperText says where the log shipper ran and what the CPU figures hold.
func shipperText(o Options) string {
	where := map[string]string{
		"server":   "pinned to the server's CPU " + o.ServerCPU + ", as a node's runtime shares the function's cores",
		"client":   "pinned to wrk's CPU " + o.ClientCPU + ", which keeps its work off the server's core and so hides its share",
		"unpinned": "left unpinned",
	}[o.ShipperCPU]
	return "The log shipper, conmon (podman's monitor, which copies the container's output to its log), was " + where + " (`-shipper-cpu " + o.ShipperCPU + "`). " +
		"CPU per call is the container's processes' user+system time over wrk's call count; conmon's is given beside it, and their sum is what a node pays per call."
}

func shapeNames(o Options) string {
	var names []string
	for _, sh := range o.Shapes {
		names = append(names, sh.Name)
	}
	return strings.Join(names, ", ")
}

// shapesText says what each call shape sends (tests/internal/callshape).
func shapesText() string {
	var hs []string
	for _, kv := range callshape.Gateway.Header {
		hs = append(hs, "`"+kv[0]+": "+kv[1]+"`")
	}
	return "Call shapes: **plain** calls carry only what wrk sends by itself (`Host`, `Content-Length`), so the handler sets no Content-Type and net/http sniffs one; **gateway** calls carry what a function receives behind the OpenFaaS gateway and provider (" +
		strings.Join(hs, ", ") + "), and the handler answers with the request's Content-Type, as most real handlers set one. Figures without a shape named are the plain shape's."
}

func joinInts(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, ", ")
}

// Machine describes where the run happened.
type Machine struct {
	CPU, Kernel, Memory, Cgroup, Go, Podman, Buildah, Wrk, LoadAvg string
	Commit                                                         string // of the templates measured
	CPUs                                                           int
}

func describeMachine(ctx context.Context, repo string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if head, err := command(ctx, "git", "-C", repo, "rev-parse", "--short=12", "HEAD"); err == nil {
		m.Commit = head
		if dirty, err := command(ctx, "git", "-C", repo, "status", "--porcelain", "--", "template"); err == nil && dirty != "" {
			m.Commit += " with uncommitted changes under template/"
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if line, _, ok := strings.Cut(string(b), "\n"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "MemTotal:")), "%f kB", &kb); err == nil {
				m.Memory = fmt.Sprintf("%.0f GiB", kb/(1<<20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		m.Cgroup = "v2"
	} else {
		m.Cgroup = "v1"
	}
	m.Podman, _ = command(ctx, "podman", "--version")
	m.Buildah, _ = command(ctx, "buildah", "--version")
	// wrk --version prints its version and exits 1.
	m.Wrk, _ = command(ctx, "sh", "-c", "wrk --version 2>&1 | head -n 1; true")
	return m
}

func (m Machine) Lines() []string {
	return []string{
		fmt.Sprintf("CPU: %s, %d cores; memory %s", orUnknown(m.CPU), m.CPUs, orUnknown(m.Memory)),
		fmt.Sprintf("Linux %s, cgroup %s", orUnknown(m.Kernel), m.Cgroup),
		fmt.Sprintf("%s; %s; %s", m.Go, orUnknown(m.Podman), orUnknown(m.Buildah)),
		orUnknown(m.Wrk),
		fmt.Sprintf("templates measured: commit %s", orUnknown(m.Commit)),
		fmt.Sprintf("load average at start: %s (other work on the machine adds noise)", orUnknown(m.LoadAvg)),
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
