// Command callcost counts every instruction a whole server process spends
// per call (net/http, the runtime and its garbage collector included), with
// valgrind's callgrind, for bare net/http, bare net/http with one template
// behaviour added at a time up to the contract's floor, and the templates
// with parts of the watchdog switched off. Each row's difference from the
// one before is what that part costs a call, so the gap between a template
// and bare is accounted for part by part. Counts, unlike timings, barely
// move on a loaded machine.
//
// The floor (variant 4) is bare net/http plus only what the function
// contract makes every template do per call: serve with the templates'
// http.Server limits and answer with X-Call-Id and X-Duration-Seconds. Every
// count is given as a ratio to bare and to the floor, for each call shape
// (tests/internal/callshape): plain calls, and calls as the OpenFaaS gateway
// sends them, to a handler that then sets Content-Type.
//
// Each variant runs under callgrind with GOMAXPROCS=1; callcost makes -warmup
// calls over -conns keep-alive connections (12-byte POST bodies), zeroes
// the counts (callgrind_control -z), makes -calls calls, dumps (-d) and
// divides. The garbage collector runs as in production, so runs differ by a
// little: -runs rounds run every variant once in each shape, and the median
// is printed with the spread (highest less lowest).
//
// The templates are built from this repository with the benchmark's echo
// handler (tests/bench/testdata), so the SDK module must be reachable: run it
// under scripts/sdk.sh, from tests/:
//
//	sh ../scripts/sdk.sh run -- go run ./bench/cmd/callcost [flags]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inproc-go/templates/tests/internal/callshape"
	"github.com/inproc-go/templates/tests/internal/freeport"
)

// A variant is one server process: a binary from build, its flags and env.
type variant struct {
	name  string
	build string   // "echo" or a template's name
	args  []string // for echo
	env   []string // for a template
}

var variants = []variant{
	{name: "bare net/http", build: "echo"},
	{name: "+ the templates' http.Server limits", build: "echo", args: []string{"-timeouts"}},
	{name: "+ X-Call-Id on the answer", build: "echo", args: []string{"-timeouts", "-headers=1"}},
	{name: "+ X-Duration-Seconds on the answer: the contract's floor", build: "echo", args: []string{"-timeouts", "-headers=2"}},
	{name: "golang-middleware-inproc, access_log=false exec_timeout=0", build: "golang-middleware-inproc",
		env: []string{"access_log=false", "exec_timeout=0"}},
	{name: "golang-middleware-inproc, exec_timeout=0", build: "golang-middleware-inproc", env: []string{"exec_timeout=0"}},
	{name: "golang-middleware-inproc (defaults)", build: "golang-middleware-inproc"},
	{name: "golang-http-inproc (defaults)", build: "golang-http-inproc"},
}

// The numbers (1 is the first) of the variants every ratio is to.
const bareVariant, floorVariant = 1, 4

func main() {
	calls := flag.Int("calls", 8000, "calls counted per run")
	warmup := flag.Int("warmup", 2000, "calls made before counting")
	conns := flag.Int("conns", 16, "keep-alive connections")
	runs := flag.Int("runs", 3, "runs per variant; the median is printed")
	only := flag.String("only", "", "comma-separated variant numbers to run (1 is bare, 4 the floor), default all")
	shapes := flag.String("shapes", "plain,gateway", "comma-separated call shapes: plain, gateway (tests/internal/callshape)")
	repo := flag.String("repo", "..", "the repository's root")
	keep := flag.String("keep", "", "a directory to keep each run's callgrind dump in, costs by instruction address (VARIANT-SHAPE-ROUND.out), and each binary that ran (echo.bin or TEMPLATE.bin), which names the addresses")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "Usage, from tests/: sh ../scripts/sdk.sh run -- go run ./bench/cmd/callcost [flags]\n\nCounts instructions per call of whole server processes under callgrind; prints a markdown table.\n\nVariants:")
		for i, v := range variants {
			fmt.Fprintf(flag.CommandLine.Output(), "  %2d  %s\n", i+1, v.name)
		}
		fmt.Fprintln(flag.CommandLine.Output(), "\nFlags:")
		flag.PrintDefaults()
	}
	flag.Parse()
	chosen, err := choose(*only)
	var chosenShapes []callshape.Shape
	if err == nil {
		chosenShapes, err = callshape.Parse(*shapes)
	}
	if err == nil && (*calls < 1 || *warmup < 0 || *conns < 1 || *runs < 1) {
		err = errors.New("-calls, -conns and -runs want 1 or more, -warmup 0 or more")
	}
	if err == nil && flag.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments %q: every setting is a flag", flag.Args())
	}
	if err == nil && *keep != "" {
		err = os.MkdirAll(*keep, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "callcost:", err)
		os.Exit(2)
	}
	if err := run(*repo, chosen, chosenShapes, load{calls: *calls, warmup: *warmup, conns: *conns}, *runs, *keep, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "callcost:", err)
		os.Exit(1)
	}
}

// choose returns the numbers (1 is the first) of the variants -only names.
func choose(only string) ([]int, error) {
	var out []int
	if only == "" {
		for i := range variants {
			out = append(out, i+1)
		}
		return out, nil
	}
	for _, f := range strings.Split(only, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > len(variants) {
			return nil, fmt.Errorf("-only %q: want variant numbers from 1 to %d, comma-separated (see -h)", only, len(variants))
		}
		out = append(out, n)
	}
	return out, nil
}

func run(repo string, chosen []int, shapes []callshape.Shape, l load, runs int, keep string, out io.Writer) error {
	if _, err := exec.LookPath("valgrind"); err != nil {
		return errors.New("valgrind not found: apt-get install valgrind")
	}
	work, err := os.MkdirTemp("", "callcost-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bins := map[string]string{}
	for _, n := range chosen {
		v := variants[n-1]
		if bins[v.build] != "" {
			continue
		}
		if bins[v.build], err = build(repo, work, v.build); err != nil {
			return fmt.Errorf("building %s: %w", v.build, err)
		}
		if keep != "" {
			if err := copyFile(bins[v.build], filepath.Join(keep, v.build+".bin")); err != nil {
				return err
			}
		}
	}
	// Round by round, every variant once per round and shape, so whatever
	// drifts between processes (it moves bare by up to 3% from one
	// invocation to the next) falls on every variant alike.
	cells := map[cell][]result{}
	for round := range runs {
		for _, n := range chosen {
			for _, sh := range shapes {
				v := variants[n-1]
				dump := ""
				if keep != "" {
					dump = filepath.Join(keep, fmt.Sprintf("%d-%s-%d.out", n, sh.Name, round+1))
				}
				r, err := measure(work, bins[v.build], v, sh, l, dump)
				if err != nil {
					return fmt.Errorf("%s, %s, round %d: %w", v.name, sh.Name, round+1, err)
				}
				c := cell{n, sh.Name}
				cells[c] = append(cells[c], r)
			}
		}
	}
	_, err = io.WriteString(out, table(chosen, shapes, cells))
	return err
}

// A cell is one variant in one call shape.
type cell struct {
	variant int
	shape   string
}

// table renders the medians, one row per variant and, side by side, one
// group of columns per shape: instructions per call, the ratios to bare and
// to the floor in the same shape, the spread over runs and the collections.
func table(chosen []int, shapes []callshape.Shape, cells map[cell][]result) string {
	var b strings.Builder
	b.WriteString("| # | variant |")
	for _, sh := range shapes {
		fmt.Fprintf(&b, " %s: instructions per call | to bare | to floor | spread | GCs per 100k calls |", sh.Name)
	}
	b.WriteString("\n|---|---|")
	for range shapes {
		b.WriteString("---:|---:|---:|---:|---:|")
	}
	b.WriteString("\n")
	med := func(c cell) (instr, gcs, spread float64, ok bool) {
		rs := cells[c]
		if len(rs) == 0 {
			return 0, 0, 0, false
		}
		is, gs := make([]float64, len(rs)), make([]float64, len(rs))
		for i, r := range rs {
			is[i], gs[i] = r.instructions, r.gcPer100k
		}
		slices.Sort(is)
		slices.Sort(gs)
		m := is[len(is)/2]
		return m, gs[len(gs)/2], (is[len(is)-1] - is[0]) / m, true
	}
	ratio := func(x float64, base cell) string {
		if b, _, _, ok := med(base); ok {
			return fmt.Sprintf("%.2f×", x/b)
		}
		return "-"
	}
	for _, n := range chosen {
		fmt.Fprintf(&b, "| %d | %s |", n, variants[n-1].name)
		for _, sh := range shapes {
			instr, gcs, spread, _ := med(cell{n, sh.Name})
			fmt.Fprintf(&b, " %.1fk | %s | %s | %.1f%% | %.0f |", instr/1000,
				ratio(instr, cell{bareVariant, sh.Name}), ratio(instr, cell{floorVariant, sh.Name}), 100*spread, gcs)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// build makes echo from this module, or a template's function with the
// benchmark's echo handler in the build context faas-cli lays out
// (scripts/shrinkwrap.sh), and returns the binary's path.
func build(repo, work, what string) (string, error) {
	bin := filepath.Join(work, what)
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./bench/cmd/echo")
	cmd.Dir = filepath.Join(repo, "tests")
	if what != "echo" {
		src := filepath.Join(work, what+"-src")
		wrap := exec.Command("sh", filepath.Join(repo, "scripts", "shrinkwrap.sh"), filepath.Join(repo, "template", what),
			filepath.Join(repo, "tests", "bench", "testdata", what), src)
		if b, err := wrap.CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s: %w\n%s", wrap, err, b)
		}
		cmd = exec.Command("go", "build", "-trimpath", "-o", bin, ".")
		cmd.Dir = src
	}
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", cmd, err, b)
	}
	return bin, nil
}

// A result is one run's figures per call.
type result struct {
	instructions float64
	gcPer100k    float64 // garbage collections per 100,000 calls
}

// measure runs v once under callgrind, called in shape sh, and moves the
// counted calls' dump to dump unless that is "".
func measure(work, bin string, v variant, sh callshape.Shape, l load, dump string) (result, error) {
	ports, err := freeport.Get(2) // the function's, and a template's metrics port
	if err != nil {
		return result{}, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	out := filepath.Join(work, "callgrind.out")
	_ = os.Remove(out)
	args := []string{"--tool=callgrind", "--callgrind-out-file=" + out, bin}
	if dump != "" {
		// Costs by instruction address: callgrind's own function names
		// mislead in a Go program, whose goroutine switches and wrappers
		// its call tracking does not follow; the binary kept beside the
		// dumps names the addresses (go tool addr2line).
		args = append([]string{"--dump-instr=yes"}, args...)
	}
	// cpu.rdtscp=off: the runtime reads the clock with RDTSCP when a thread
	// sleeps on a contended lock, an instruction valgrind 3.19 does not know
	// (SIGILL); without it the runtime reads the same clock with RDTSC. The
	// copy of golang.org/x/sys/cpu inside the standard library prints that
	// it does not know the option, once, at start: harmless.
	env := append(os.Environ(), "GOMAXPROCS=1", "GODEBUG=asyncpreemptoff=1,gctrace=1,cpu.rdtscp=off")
	if v.build == "echo" {
		args = append(args, append([]string{"-listen", addr}, v.args...)...)
	} else {
		env = append(env, "port="+strconv.Itoa(ports[0]), "metrics_port="+strconv.Itoa(ports[1]),
			"lock_file="+filepath.Join(work, ".lock"))
		env = append(env, v.env...)
	}
	cmd := exec.Command("valgrind", args...)
	cmd.Env = env
	stderr := &gcLines{}
	cmd.Stderr = stderr // the access log too: read as a log shipper would
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	if err := waitServing(addr, exited); err != nil {
		return result{}, fmt.Errorf("%w\n%s", err, stderr.tail())
	}
	if err := l.call(addr, l.warmup, sh); err != nil {
		return result{}, fmt.Errorf("%w\nthe server's last output:\n%s", err, stderr.tail())
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	gcBefore := stderr.count()
	if err := control("-z", pid); err != nil {
		return result{}, err
	}
	if err := l.call(addr, l.calls, sh); err != nil {
		return result{}, fmt.Errorf("%w\nthe server's last output:\n%s", err, stderr.tail())
	}
	if err := control("-d", pid); err != nil {
		return result{}, err
	}
	gcs := stderr.count() - gcBefore
	total, err := dumpTotal(out + ".1")
	if err != nil {
		return result{}, err
	}
	if dump != "" {
		if err := copyFile(out+".1", dump); err != nil {
			return result{}, err
		}
	}
	calls := float64(l.calls)
	return result{instructions: float64(total) / calls, gcPer100k: float64(gcs) * 1e5 / calls}, nil
}

// copyFile copies a file: os.Rename can't cross file systems.
func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, b, 0o755)
	}
	return err
}

func control(flag, pid string) error {
	if b, err := exec.Command("callgrind_control", flag, pid).CombinedOutput(); err != nil {
		return fmt.Errorf("callgrind_control %s %s: %w\n%s", flag, pid, err, b)
	}
	return nil
}

// dumpTotal reads the instruction count from a callgrind dump's summary line.
func dumpTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "summary: "); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no summary line", path)
}

// waitServing polls until addr answers a call, the process exits, or a
// minute passes (callgrind starts a Go program in seconds).
func waitServing(addr string, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/", strings.NewReader("ready?"))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited before serving: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("no answer from %s within a minute", addr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// gcLines takes a server's stderr: it counts the runtime's gctrace lines
// ("gc N @..."), one per collection, and keeps the last bytes for errors.
type gcLines struct {
	mu    sync.Mutex
	n     int
	start []byte // the current line's first bytes, up to 3
	last  []byte
}

func (g *gcLines) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range p {
		if c == '\n' {
			if string(g.start) == "gc " {
				g.n++
			}
			g.start = g.start[:0]
		} else if len(g.start) < 3 {
			g.start = append(g.start, c)
		}
	}
	g.last = append(g.last, p...)
	if len(g.last) > 4096 {
		g.last = append(g.last[:0], g.last[len(g.last)-2048:]...)
	}
	return len(p), nil
}

func (g *gcLines) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

func (g *gcLines) tail() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return string(g.last)
}

// load is how the calls are made.
type load struct{ calls, warmup, conns int }

const body = "hello world\n"

// call makes n calls in shape sh over l.conns connections, each answer
// checked: the body echoed, and in a shape that sends a Content-Type, that
// Content-Type back from the handler.
func (l load) call(addr string, n int, sh callshape.Shape) error {
	req := "POST / HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	for _, kv := range sh.Header {
		req += kv[0] + ": " + kv[1] + "\r\n"
	}
	req += "\r\n" + body
	var left atomic.Int64
	left.Store(int64(n))
	errs := make([]error, l.conns)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = callLoop(addr, req, sh.Get("Content-Type"), &left) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func callLoop(addr, req, contentType string, left *atomic.Int64) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for left.Add(-1) >= 0 {
		if _, err := io.WriteString(conn, req); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || string(got) != body {
			return fmt.Errorf("answer %d %q, want 200 %q", resp.StatusCode, got, body)
		}
		if ct := resp.Header.Get("Content-Type"); contentType != "" && ct != contentType {
			return fmt.Errorf("answer's Content-Type %q, want the request's %q: the handler must copy it", ct, contentType)
		}
	}
	return nil
}
