package main

import (
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/inproc-go/templates/tests/internal/callshape"
)

const wrkOutput = `Running 5s test @ http://127.0.0.1:41234/
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   412.51us  380.12us  12.30ms   97.12%
    Req/Sec    38.12k     1.20k   40.01k    72.00%
  Latency Distribution
     50%  365.00us
     75%  410.00us
     90%  520.00us
     99%    1.52ms
  189712 requests in 5.00s, 40.53MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  37942.40
Transfer/sec:      8.11MB
`

func TestParseWrk(t *testing.T) {
	l, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := Load{RPS: 37942.40, P50: 365e-6, P99: 1.52e-3, Requests: 189712, Non2xx: 4, Errors: 3}
	if math.Abs(l.P50-want.P50) > 1e-12 || math.Abs(l.P99-want.P99) > 1e-12 {
		t.Fatalf("latencies: got %v %v, want %v %v", l.P50, l.P99, want.P50, want.P99)
	}
	l.P50, l.P99, want.P50, want.P99 = 0, 0, 0, 0
	if l != want {
		t.Fatalf("got %+v, want %+v", l, want)
	}
	if _, err := parseWrk(strings.Replace(wrkOutput, "  Latency Distribution", "", 1)[:200]); err == nil {
		t.Fatal("want an error for output without Requests/sec")
	}
	noLatency := strings.Replace(strings.Replace(wrkOutput, "     50%  365.00us\n", "", 1), "     99%    1.52ms\n", "", 1)
	if _, err := parseWrk(noLatency); err == nil {
		t.Fatal("want an error for output without --latency percentiles")
	}
	secs, err := parseWrk(strings.Replace(wrkOutput, "1.52ms", "1.20s", 1))
	if err != nil || secs.P99 != 1.2 {
		t.Fatalf("seconds: got %v, %v", secs.P99, err)
	}
}

func TestParseStatsJSON(t *testing.T) {
	out := `[
 {
  "id": "d7069630e5e8",
  "name": "x",
  "mem_usage": "2.159MB / 25.28GB",
  "pids": "5"
 }
]`
	got, err := parseStatsJSON(out)
	if err != nil || got != 2.159e6 {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, s := range []string{"0B", "512kB", "1.5GiB"} {
		if _, err := parseDecimalSize(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := parseStatsJSON(`[]`); err == nil {
		t.Fatal("want an error for no rows")
	}
	if _, err := parseDecimalSize("12 parsecs"); err == nil {
		t.Fatal("want an error for an unknown unit")
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\thandler\nVmPeak:\t 1240 kB\nVmHWM:\t    6236 kB\nVmRSS:\t    6000 kB\nRssAnon:\t     888 kB\nRssFile:\t    5112 kB\n"
	st, err := parseStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if st.VmHWM != 6236*1024 || st.VmRSS != 6000*1024 || st.RssAnon != 888*1024 {
		t.Fatalf("got %+v", st)
	}
	if _, err := parseStatus([]byte("Name:\tx\nVmRSS:\t1 kB\n")); err == nil {
		t.Fatal("want an error when a field is missing")
	}
}

func TestWakeups(t *testing.T) {
	proc := t.TempDir()
	for tid, n := range map[string]string{"10": "7", "15": "5"} {
		dir := filepath.Join(proc, "10", "task", tid)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		status := "Name:\thandler\nvoluntary_ctxt_switches:\t" + n + "\nnonvoluntary_ctxt_switches:\t99\n"
		if err := os.WriteFile(filepath.Join(dir, "status"), []byte(status), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := wakeups(proc, []int{10}); err != nil || got != 12 {
		t.Fatalf("wakeups = %v, %v; want 12 (7 + 5, nonvoluntary ignored)", got, err)
	}
	if _, err := wakeups(proc, []int{11}); err == nil {
		t.Fatal("want an error for a process without threads")
	}
	if _, err := parseSwitches([]byte("Name:\tx\n")); err == nil {
		t.Fatal("want an error when voluntary_ctxt_switches is missing")
	}
}

// A fake procfs: 10 -> 11 -> 13, 10 -> 12; 20 is unrelated.
func TestProcessTreeAndCPU(t *testing.T) {
	proc := t.TempDir()
	stat := map[int]string{
		10: "10 (fwatchdog) S 9 10 10 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 4 0 100 0 0",
		11: "11 (handler (x)) S 10 10 10 0 -1 4194560 100 0 0 0 20 5 0 0 20 0 4 0 100 0 0",
		12: "12 (h) S 10 10 10 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 100 0 0",
		13: "13 (h) S 11 10 10 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0",
		20: "20 (other) S 1 20 20 0 -1 0 0 0 0 0 50 50 0 0 20 0 1 0 100 0 0",
	}
	for pid, s := range stat {
		dir := filepath.Join(proc, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tree, err := processTree(proc, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(tree) != 4 || tree[0] != 10 {
		t.Fatalf("tree = %v, want 10 and its three descendants", tree)
	}
	for _, p := range tree {
		if p == 20 {
			t.Fatalf("tree %v holds an unrelated process", tree)
		}
	}
	if _, err := processTree(proc, 99); err == nil {
		t.Fatal("want an error for a missing root")
	}
	if pp, err := parentPID([]byte(stat[11])); err != nil || pp != 10 {
		t.Fatalf("parent of 11 = %d, %v", pp, err)
	}
	// cpuTicks reads the real /proc; check it on this process.
	if ticks, err := cpuTicks([]int{os.Getpid()}); err != nil || ticks < 0 {
		t.Fatalf("cpuTicks(self) = %v, %v", ticks, err)
	}
}

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, c := range cases {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) should be NaN")
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-smoke"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Rounds != 1 || o.Duration != time.Second || len(o.Conns) != 2 || o.Starts != 1 {
		t.Fatalf("smoke defaults: %+v", o)
	}
	o, err = parseFlags([]string{"-smoke", "-rounds", "2", "-conns", "4"}, io.Discard)
	if err != nil || o.Rounds != 2 || len(o.Conns) != 1 || o.Conns[0] != 4 {
		t.Fatalf("explicit flags must win over -smoke: %+v, %v", o, err)
	}
	o, err = parseFlags(nil, io.Discard)
	if err != nil || o.Rounds != 5 || o.Duration != 5*time.Second || len(o.Conns) != 3 || o.ShipperCPU != "server" ||
		len(o.Shapes) != 2 || o.QuietWait != 30*time.Second {
		t.Fatalf("defaults: %+v, %v", o, err)
	}
	// Whole seconds with or without the unit, as scripts/bench.sh documents;
	// --double-dash flags as the script passes them through.
	o, err = parseFlags([]string{"--duration", "7", "--warmup=0", "--quiet-wait", "1m", "--shapes", "gateway"}, io.Discard)
	if err != nil || o.Duration != 7*time.Second || o.Warmup != 0 || o.QuietWait != time.Minute || len(o.Shapes) != 1 || o.Shapes[0].Name != "gateway" {
		t.Fatalf("seconds and shapes: %+v, %v", o, err)
	}
	if _, err := parseFlags([]string{"-check", "-rounds", "2"}, io.Discard); !errors.Is(err, errChecked) {
		t.Fatalf("-check with good flags: %v, want errChecked", err)
	}
	var help strings.Builder
	if _, err := parseFlags([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "-shapes") {
		t.Fatalf("-h: %v, usage:\n%s", err, help.String())
	}
	for _, bad := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"-rounds", "0"}, "-rounds 0: want 1 or more"},
		{[]string{"-duration", "1500ms"}, "want whole seconds"},
		{[]string{"-duration", "0s"}, "-duration 0s: want at least 1 second"},
		{[]string{"-warmup", "-1"}, "want whole seconds"},
		{[]string{"-quiet-wait", "x"}, "want whole seconds"},
		{[]string{"-shapes", "plain,browser"}, "want plain, gateway or both"},
		{[]string{"-check", "-rounds", "0"}, "-rounds 0"},
		{[]string{"-conns", "1,x"}, "want comma-separated counts"},
		{[]string{"-conns", "0"}, "want comma-separated counts"},
		{[]string{"-starts", "0"}, "-starts 0: want 1 or more"},
		{[]string{"-server-cpu", "1", "-client-cpu", "1"}, "must not share a core"},
		{[]string{"-shipper-cpu", "0"}, "want server, client or unpinned"},
		{[]string{"stray"}, "unexpected argument"},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
		{[]string{"-rounds"}, "flag needs an argument"},
	} {
		if _, err := parseFlags(bad.args, io.Discard); err == nil || errors.Is(err, errChecked) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: error %v, want one saying %q", bad.args, err, bad.want)
		}
	}
}

// fakeResult is two rounds of made-up figures for every variant.
func fakeResult() *Result {
	o := Options{Rounds: 2, Conns: []int{1, 16}, Shapes: callshape.All, Duration: time.Second, Warmup: time.Second, Starts: 1,
		GoImage: "localhost/inproc-go/golang:local", ServerCPU: "0", ClientCPU: "1", ShipperCPU: "server", Command: "scripts/bench.sh --smoke"}
	res := &Result{Options: o, Variants: variants(), Started: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	scale := map[string]float64{"bare": 1, "floor": 1.25, "middleware": 1.1 * 1.25, "http": 1.12 * 1.25, "twoproc": 2}
	for r := 0; r < 2; r++ {
		round := Round{Figures: map[string]map[string]float64{}}
		for _, v := range res.Variants {
			round.Order = append(round.Order, v.Key)
			figs := map[string]float64{}
			for _, m := range metrics(o) {
				x := 100 * scale[v.Key] * float64(r+1)
				if m.Higher {
					x = 100 / scale[v.Key] * float64(r+1)
				}
				if size := m.Unit == "bytes" || m.Key == "start"; size && v.Key != "bare" && v.Key != "twoproc" {
					// Size, memory and start: the floor as bare, the
					// templates 1.10 and 1.12 times bare.
					x /= 1.25
				}
				if m.NoRatio && (v.Key == "bare" || v.Key == "floor") {
					x = 0
				}
				figs[m.Key] = x
			}
			round.Figures[v.Key] = figs
		}
		res.Rounds = append(res.Rounds, round)
	}
	return res
}

func TestSummarizeAndTargets(t *testing.T) {
	res := fakeResult()
	rep := summarize(res)
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	if got := rep["middleware"]["binary"].Ratio[bareKey]; !near(got, 1.1) {
		t.Fatalf("size ratio to bare = %v, want 1.1", got)
	}
	if got := rep["middleware"]["binary"].Median; !near(got, 165) {
		t.Fatalf("median = %v, want 165", got)
	}
	if got := rep["middleware"]["cpu_16_gateway"].Ratio[floorKey]; !near(got, 1.1) {
		t.Fatalf("CPU ratio to the floor = %v, want 1.1", got)
	}
	if got := rep["middleware"]["cpu_16"].Ratio[bareKey]; !near(got, 1.375) {
		t.Fatalf("CPU ratio to bare = %v, want 1.375", got)
	}
	if got := rep["twoproc"]["rps_16"].Ratio[bareKey]; got != 0.5 {
		t.Fatalf("throughput ratio = %v, want 0.5", got)
	}
	if got := rep["middleware"]["logcpu_1"].Ratio[bareKey]; !math.IsNaN(got) {
		t.Fatalf("a NoRatio figure got ratio %v", got)
	}
	if nb := notBeaten(res, rep, "middleware"); len(nb) != 0 {
		t.Fatalf("middleware should beat twoproc everywhere, not on %v", nb)
	}
	// Ties: none beats the baseline, but both at zero (the floor) does.
	for _, tc := range []struct {
		template, baseline float64
		beaten             bool
	}{{0, 0, true}, {1, 1, false}, {1, 0, false}, {0, 1, true}} {
		rep["middleware"]["idle_wakeups"] = Stat{Median: tc.template}
		rep["twoproc"]["idle_wakeups"] = Stat{Median: tc.baseline}
		nb := notBeaten(res, rep, "middleware")
		if beaten := len(nb) == 0; beaten != tc.beaten {
			t.Errorf("wakeups %v against %v: not beaten on %v, want beaten=%v", tc.template, tc.baseline, nb, tc.beaten)
		}
	}
	missed := missedTargets(res, rep)
	// 1.10 and 1.12 times bare (sizes, memory) or the floor (per call) meet
	// every target but RssAnon after load for http (1.12 > 1.10), and its
	// CPU per call (1.12 > 1.10) and throughput (1/1.12 = 0.893 < 0.90) at
	// 16 connections, in both shapes; middleware's 1.10 and 0.909 meet them.
	joined := strings.Join(missed, "\n")
	for _, want := range []string{
		"http: RssAnon after load",
		"http: throughput at 16 conn, plain ≥ 0.90× the floor (0.89×)",
		"http: container + conmon CPU per call at 16 conn, gateway ≤ 1.10× the floor (1.12×)",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("missed targets lack %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "middleware:") {
		t.Errorf("middleware met every target, got:\n%s", joined)
	}
	for _, tg := range targets(res.Options) {
		if tg.Base != bareKey && tg.Base != floorKey {
			t.Errorf("target %q has base %q", tg.Label, tg.Base)
		}
	}
	if m := missingFigures(res); len(m) != 0 {
		t.Fatalf("missing figures: %v", m)
	}
	delete(res.Rounds[1].Figures["http"], "p99_16_gateway")
	if m := missingFigures(res); len(m) != 1 || !strings.Contains(m[0], "http p99_16_gateway") {
		t.Fatalf("missing figures = %v, want round 2 http p99_16_gateway", m)
	}
}

func TestRenderMarkdownAndSVG(t *testing.T) {
	res := fakeResult()
	rep := summarize(res)
	md := renderMarkdown(res, rep)
	for _, want := range []string{
		"scripts/bench.sh --smoke", "| figure | bare net/http | the contract's floor | golang-middleware-inproc |",
		// Bare plain; the floor to bare; a template to both.
		"| container CPU per call, 16 conn | 150.0 µs | 187.5 µs (1.25× bare) | 206.2 µs (1.38× bare, 1.10× floor) |",
		"| throughput, 16 conn, gateway |",
		"| podman run to first /_/health 200 | 150 ms | 150 ms (1.00× bare) | 165 ms (1.10× bare, 1.10× floor) |",
		"| conmon (log shipping) CPU per call, 16 conn | 0.0 µs | 0.0 µs | 206.2 µs |",
		"## Targets", "## Machine", "benchmark.svg", "X-Forwarded-Host: 127.0.0.1:8080", notesMarker,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	svg := renderSVG(res, rep)
	dec := xml.NewDecoder(strings.NewReader(svg))
	rects := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// background + legend (4) + bars: 4 variants x charted figures.
	charted := 0
	for _, m := range metrics(res.Options) {
		if m.Chart != "" {
			charted++
		}
	}
	if want := 1 + 4 + 4*charted; rects != want {
		t.Fatalf("SVG has %d rects, want %d", rects, want)
	}
}

func TestKeepNotes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "benchmark.md")
	if err := writeReport(path, "# new\n"+notesMarker+"\n"); err != nil {
		t.Fatal(err)
	}
	old := "# old\n" + notesMarker + "\nhand-written analysis\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, "# new figures\n"+notesMarker+"\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "# new figures\n" + notesMarker + "\nhand-written analysis\n"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestWrkScriptAndBody(t *testing.T) {
	body := requestBody()
	if len(body) != 128 {
		t.Fatalf("body is %d bytes, want 128", len(body))
	}
	plain := wrkScript(body, callshape.Plain)
	if !strings.Contains(plain, `wrk.method = "POST"`) || !strings.Contains(plain, `"`+body+`"`) || strings.Contains(plain, "wrk.headers") {
		t.Fatalf("plain script, want POST and the body, no headers:\n%s", plain)
	}
	gw := wrkScript(body, callshape.Gateway)
	for _, kv := range callshape.Gateway.Header {
		if want := `wrk.headers["` + kv[0] + `"] = "` + kv[1] + `"`; !strings.Contains(gw, want) {
			t.Errorf("gateway script lacks %s:\n%s", want, gw)
		}
	}
}

func TestEmbeddedSources(t *testing.T) {
	for _, p := range []string{"cmd/echo/main.go", "cmd/proxy/main.go", "images/bare.Dockerfile", "images/floor.Dockerfile", "images/twoproc.Dockerfile",
		"testdata/golang-middleware-inproc/handler.go", "testdata/golang-http-inproc/handler.go"} {
		if _, err := sources.ReadFile(p); err != nil {
			t.Errorf("%s not embedded: %v", p, err)
		}
	}
	// The floor's image is the bare image's, built first, with its command.
	floor, _ := sources.ReadFile("images/floor.Dockerfile")
	if want := "ARG BARE_IMAGE=" + imagePrefix + bareKey + ":latest\nFROM ${BARE_IMAGE}\n"; !strings.Contains(string(floor), want) {
		t.Errorf("images/floor.Dockerfile does not start from the bare image (%q):\n%s", want, floor)
	}
	if vs := variants(); vs[0].Key != bareKey || vs[1].Key != floorKey {
		t.Errorf("variants must start with bare and the floor, got %s, %s", vs[0].Key, vs[1].Key)
	}
	for _, v := range variants() {
		if v.Template == "" {
			if _, err := sources.ReadFile("images/" + v.Key + ".Dockerfile"); err != nil {
				t.Errorf("variant %s has no Dockerfile: %v", v.Key, err)
			}
		}
	}
}

// scripts/bench.sh hands every option but --no-install and --help to this
// program, which rejects a bad one (exit 2, its own message) before the
// script installs, builds or measures anything.
func TestScriptPassesOptionsThrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the program through scripts/sdk.sh; skipped with -short")
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--no-install", "--rounds", "0"}, 2, "bench: -rounds 0: want 1 or more"},
		{[]string{"--smoke", "--shapes", "plain,browser"}, 2, "want plain, gateway or both"},
		{[]string{"--help"}, 0, "--shapes LIST"},
	} {
		cmd := exec.Command("sh", append([]string{"../../scripts/bench.sh"}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if code != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("bench.sh %v: exit %d, want %d and output with %q:\n%s", tc.args, code, tc.code, tc.want, out)
		}
	}
}
