// Package instructions guards the watchdog's cost per call by counting
// instructions, which stay put on a loaded machine where timings don't: a
// test fails when the chain's instructions per call grow more than 10% over
// testdata/reference.json.
//
// TestInstructionsPerCall builds the watchdog package's test binary (no race
// detector, CGO_ENABLED=0 as the templates build) and runs the bare, chain and
// chain-no-exec-timeout cases of its BenchmarkInstructions
// (watchdog/instructions_bench_test.go: BenchmarkChain's cases, the whole
// chain as Server routes it, with the JSON access log on, around an echo
// handler, and the echo handler alone) under valgrind --tool=callgrind with
// -test.benchtime=6000x. The benchmark makes 6000 calls to warm up (the
// runtime fills its type-assertion caches at random moments over the first
// thousands of calls), then 6000 between two marker functions at which
// callgrind zeroes and dumps its counts, so the dump holds those calls and
// nothing else: no start-up, set-up or warm-up. Each case runs runs times,
// each in a process of its own, and the figure is the median; the runs must
// agree within maxSpread, or the measurement is not trusted and the test
// fails.
//
// Markers of its own, not B.Loop's slow path: callgrind's view of the call
// stack is confused by goroutine stack switches, and by a goroutine moving to
// another thread after a system call (the scheduler hands its P over), which
// on a loaded machine made dumps at the entry and exit of testing's functions
// come out missing or doubled. An empty function that is never inlined is
// entered by one call instruction, which callgrind always sees. Differencing
// two processes' totals (2000 and 12000 calls) avoided that too, but each
// process's random cache fills left up to 2% between runs of the bare case.
//
// The run is made deterministic where the runtime is not: GOMAXPROCS=1,
// GODEBUG=asyncpreemptoff=1,memprofilerate=0 (no signal-driven preemption,
// no randomly sampled stack walks of the memory profiler, and cpu.rdtscp=off:
// the runtime reads the clock with RDTSCP when a thread spins on a contended
// lock, which valgrind 3.19 does not know and answers with SIGILL; RDTSC
// reads the same clock) and GOGC=off. The
// garbage collector is left out because its instruction count follows the
// scheduler's timing under valgrind (from 33.7k to 37.8k instructions per
// chain call between runs with GOGC=100, against 0.1% with GOGC=off); the
// allocations themselves are counted (mallocgc), and TestChainAllocations in
// watchdog/ bounds their number.
//
// The figures are logged on every run. To measure again and rewrite the
// reference (after a change that moves the count on purpose, or a new Go or
// valgrind):
//
//	cd tests && go test -count=1 -run TestInstructionsPerCall ./instructions/ -update -v
//
// and commit testdata/reference.json with the change. -watchdog=DIR measures
// another copy of the watchdog module (say, an export of HEAD to compare a
// working tree against). Without valgrind the test skips, or fails when CI is
// set. It takes about 40 seconds on a 2-core machine.
package instructions

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/inproc-go/templates/tests/internal/container"
)

var (
	update      = flag.Bool("update", false, "measure and rewrite testdata/reference.json")
	watchdogDir = flag.String("watchdog", "", "the watchdog module to measure (default: the repository's watchdog/)")
)

const (
	referenceFile = "testdata/reference.json"
	// calls is -test.benchtime: so many calls warm up, so many are counted.
	calls = 6000
	// runs is how many processes measure each case.
	runs = 3
	// tolerance is how far a guarded case may grow over its reference.
	tolerance = 0.10
	// maxSpread is how far apart the runs of one case may be.
	maxSpread = 0.02
	// The benchmark's markers, where callgrind zeroes and dumps its counts.
	startMarker = "github.com/inproc-go/templates/watchdog.instructionsStart"
	stopMarker  = "github.com/inproc-go/templates/watchdog.instructionsStop"
)

// cases are BenchmarkInstructions' sub-benchmarks; guarded ones fail the
// test when they grow, bare is the yardstick.
var cases = []struct {
	name    string
	guarded bool
}{
	{"bare", false},
	{"chain", true},
	{"chain-no-exec-timeout", true},
}

// reference is testdata/reference.json.
type reference struct {
	Method   string `json:"method"`
	Go       string `json:"go"`
	Valgrind string `json:"valgrind"`
	GOARCH   string `json:"goarch"`
	Calls    int    `json:"calls"`
	Runs     int    `json:"runs"`
	// InstructionsPerCall holds each case's figure, by BenchmarkInstructions'
	// sub-benchmark name.
	InstructionsPerCall map[string]float64 `json:"instructions_per_call"`
}

func TestInstructionsPerCall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the chain under valgrind for about a minute; skipped with -short")
	}
	valgrind, err := exec.LookPath("valgrind")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("valgrind is not installed (apt-get install valgrind): the instruction-count guard needs it")
		}
		t.Skip("valgrind is not installed (apt-get install valgrind); CI runs this test")
	}
	var ref reference
	if !*update {
		b, err := os.ReadFile(referenceFile)
		if err != nil {
			t.Fatalf("%v (measure one with -update)", err)
		}
		if err := json.Unmarshal(b, &ref); err != nil {
			t.Fatalf("%s: %v", referenceFile, err)
		}
		if ref.GOARCH != runtime.GOARCH {
			msg := fmt.Sprintf("%s was measured on %s, this is %s: measure one here with -update", referenceFile, ref.GOARCH, runtime.GOARCH)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}

	dir := *watchdogDir
	if dir == "" {
		root, err := container.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "watchdog")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "watchdog.test")
	build := exec.CommandContext(t.Context(), "go", "test", "-c", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the watchdog's test binary in %s: %v\n%s", dir, err, out)
	}
	goVersion := commandOutput(t, dir, "go", "env", "GOVERSION")
	valgrindVersion := commandOutput(t, tmp, valgrind, "--version")

	// The runs go side by side: counts don't depend on the machine's load.
	perRun := make(map[string][]float64, len(cases))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, runtime.NumCPU()))
	for _, c := range cases {
		for i := range runs {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				perCall, err := measure(t.Context(), valgrind, bin, filepath.Join(tmp, fmt.Sprintf("%s-%d", c.name, i)), c.name)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
					return
				}
				perRun[c.name] = append(perRun[c.name], perCall)
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got := make(map[string]float64, len(cases))
	for _, c := range cases {
		lo, hi := slices.Min(perRun[c.name]), slices.Max(perRun[c.name])
		if spread := (hi - lo) / lo; spread > maxSpread {
			t.Errorf("%s: the runs disagree by %.1f%% (%.0f to %.0f instructions per call), more than %.0f%%: something in the call is not deterministic",
				c.name, 100*spread, lo, hi, 100*maxSpread)
		}
		got[c.name] = median(perRun[c.name])
	}
	if t.Failed() {
		return
	}

	bare := got["bare"]
	t.Logf("instructions per call (%s, %s, %s; median of %d runs of %d calls):",
		goVersion, valgrindVersion, runtime.GOARCH, runs, calls)
	for _, c := range cases {
		line := fmt.Sprintf("  %-22s %8.0f  %5.2f× bare", c.name, got[c.name], got[c.name]/bare)
		if c.name != "bare" {
			line += fmt.Sprintf("  (+%.0f over bare)", got[c.name]-bare)
		}
		if r, ok := ref.InstructionsPerCall[c.name]; ok {
			line += fmt.Sprintf("  reference %.0f (%+.1f%%)", r, 100*(got[c.name]/r-1))
		}
		line += fmt.Sprintf("  runs %.0f", perRun[c.name])
		t.Log(line)
	}

	if *update {
		ref = reference{
			Method: "watchdog BenchmarkInstructions under valgrind --tool=callgrind, counts between its markers over -test.benchtime calls, " +
				"GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1,memprofilerate=0,cpu.rdtscp=off GOGC=off; see tests/instructions",
			Go:                  goVersion,
			Valgrind:            valgrindVersion,
			GOARCH:              runtime.GOARCH,
			Calls:               calls,
			Runs:                runs,
			InstructionsPerCall: make(map[string]float64, len(got)),
		}
		for name, v := range got {
			ref.InstructionsPerCall[name] = float64(int64(v + 0.5))
		}
		b, err := json.MarshalIndent(ref, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(referenceFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", referenceFile)
		return
	}

	if ref.Go != goVersion || ref.Valgrind != valgrindVersion {
		t.Logf("note: the reference was measured with %s and %s, this run with %s and %s; "+
			"if a failure comes from the toolchain, not the watchdog, measure again with -update",
			ref.Go, ref.Valgrind, goVersion, valgrindVersion)
	}
	for _, c := range cases {
		r, ok := ref.InstructionsPerCall[c.name]
		if !ok || r <= 0 {
			t.Errorf("%s has no figure for %s: measure again with -update", referenceFile, c.name)
			continue
		}
		ratio := got[c.name] / r
		switch {
		case c.guarded && ratio > 1+tolerance:
			t.Errorf("%s: %.0f instructions per call, %.1f%% over the reference's %.0f (at most +%.0f%%); %.2f× bare now, %.2f× in the reference",
				c.name, got[c.name], 100*(ratio-1), r, 100*tolerance, got[c.name]/bare, r/ref.InstructionsPerCall["bare"])
		case c.guarded && ratio < 1-tolerance:
			t.Logf("%s is %.1f%% under the reference: measure again with -update to keep the guard tight", c.name, 100*(1-ratio))
		case !c.guarded && (ratio > 1+tolerance || ratio < 1-tolerance):
			t.Logf("note: bare moved %+.1f%% from the reference: the toolchain or the machine's CPU differs", 100*(ratio-1))
		}
	}
}

// measure runs one BenchmarkInstructions case of the test binary bin under
// callgrind, with its output in dir, and returns the instructions per call
// between the benchmark's markers.
func measure(ctx context.Context, valgrind, bin, dir, name string) (float64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	out := filepath.Join(dir, "callgrind.out")
	cmd := exec.CommandContext(ctx, valgrind,
		"--tool=callgrind",
		"--zero-before="+startMarker,
		"--dump-before="+stopMarker,
		"--callgrind-out-file="+out,
		bin,
		"-test.run=^$",
		"-test.bench=^BenchmarkInstructions$/^"+name+"$",
		"-test.benchtime="+strconv.Itoa(calls)+"x",
		"-test.count=1",
	)
	cmd.Dir = dir
	cmd.Env = append(withoutVars(os.Environ(), "GOMAXPROCS", "GODEBUG", "GOGC", "GOMEMLIMIT"),
		"GOMAXPROCS=1", "GODEBUG=asyncpreemptoff=1,memprofilerate=0,cpu.rdtscp=off", "GOGC=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("valgrind: %v\n%s\n%s", err, stdout.Bytes(), tail(stderr.Bytes(), 2000))
	}
	// The benchmark's line, "BenchmarkInstructions/<name> <tab> <calls> ...",
	// shows it made the calls asked for.
	ran := false
	for line := range strings.Lines(stdout.String()) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "BenchmarkInstructions/"+name && f[1] == strconv.Itoa(calls) {
			ran = true
		}
	}
	if !ran {
		return 0, fmt.Errorf("no BenchmarkInstructions/%s line with %d calls in the output:\n%s", name, calls, stdout.Bytes())
	}
	// The testing package runs a benchmark once with b.N=1 and then with
	// b.N=calls: two dumps, the second of which is the one counted.
	if _, err := os.Stat(out + ".3"); err == nil {
		return 0, fmt.Errorf("more than 2 dumps in %s: %s was entered more than twice", dir, stopMarker)
	}
	total, err := readTotal(out + ".2")
	if err != nil {
		return 0, fmt.Errorf("%v: was %s not entered twice?", err, stopMarker)
	}
	return float64(total) / calls, nil
}

// readTotal returns the instruction total of a callgrind output file.
func readTotal(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "totals: "); ok {
			total, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %v", path, err)
			}
			return total, nil
		}
	}
	return 0, fmt.Errorf("%s: no totals line", path)
}

// median returns the middle of xs, which it leaves unchanged.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// withoutVars returns env without the variables named.
func withoutVars(env []string, names ...string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(names, name)
	})
}

// commandOutput runs name with args in dir and returns its first line.
func commandOutput(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
