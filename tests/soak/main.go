// Command soak drives a function binary built on the watchdog (such as
// watchdog/testdata/integration, as scripts/soak.sh builds it) with many
// calls from keep-alive callers on 127.0.0.1, and checks that nothing
// drifts: every call answered 200 with its body echoed, the process's
// resident memory (VmRSS, RssAnon from /proc/PID/status) and goroutine count
// (go_goroutines on its metrics port) within a tolerance between the first
// and last quarter of the calls, and a clean exit on SIGTERM.
//
// The binary is run with port, integration_metrics_port and
// integration_lock_file set to free ports and a temporary file, plus any
// -env given.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/inproc-go/templates/tests/internal/freeport"
	"github.com/inproc-go/templates/tests/internal/wait"
)

type envFlags []string

func (e *envFlags) String() string { return strings.Join(*e, " ") }
func (e *envFlags) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("%q: want NAME=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

type options struct {
	bin       string
	calls     int
	callers   int
	bodyBytes int
	warmup    int
	samples   int
	tolerance float64
	env       envFlags
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "the function binary to run (required)")
	flag.IntVar(&o.calls, "n", 200000, "calls to make, after the warm-up")
	flag.IntVar(&o.callers, "c", 64, "concurrent callers, each on its own keep-alive connection")
	flag.IntVar(&o.bodyBytes, "body", 512, "request body size in bytes")
	flag.IntVar(&o.warmup, "warmup", -1, "calls before measuring, at the least; more follow while RssAnon still grows (default: 20 per caller, at least 2000)")
	flag.IntVar(&o.samples, "samples", 80, "resource samples over the run, each with every caller paused")
	flag.Float64Var(&o.tolerance, "tolerance", 0.10, "largest growth allowed from the first quarter to the last, as a fraction")
	flag.Var(&o.env, "env", "NAME=VALUE for the function's environment (repeatable)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: soak -bin PATH [-n CALLS] [-c CALLERS] [options]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := o.validate(); err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		flag.Usage()
		os.Exit(2)
	}
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "soak: FAIL: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("soak: PASS")
}

func (o *options) validate() error {
	switch {
	case flag.NArg() > 0:
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	case o.bin == "":
		return errors.New("-bin is required")
	case o.calls < 4:
		return fmt.Errorf("-n %d: want at least 4 calls", o.calls)
	case o.callers < 1:
		return fmt.Errorf("-c %d: want at least 1 caller", o.callers)
	case o.bodyBytes < 16:
		return fmt.Errorf("-body %d: want at least 16 bytes", o.bodyBytes)
	case o.samples < 8 || o.samples > o.calls:
		return fmt.Errorf("-samples %d: want at least 8 and at most -n", o.samples)
	case o.tolerance <= 0:
		return fmt.Errorf("-tolerance %g: want more than 0", o.tolerance)
	}
	if o.warmup < 0 {
		o.warmup = max(20*o.callers, 2000)
	}
	return nil
}

// Chunks of warm-up calls after the first -warmup, while RssAnon still grows.
const (
	settleChunks = 16
	settleGrowth = 0.02
)

type warmth struct {
	calls int
	how   string
}

// warmUp makes o.warmup calls, then more, a quarter of that at a time, until
// a chunk moves RssAnon by less than settleGrowth or settleChunks have run:
// the heap grows to its working size over its first collections, and a
// measurement that starts before then reads that as growth (seen in a
// 5,000-call smoke run: 6.4 to 7.3 MiB, where another run of the same binary
// started at 7.3). A leak never settles; after the last chunk the
// measurement starts anyway and sees it. It returns the first sample,
// taken as every caller is between calls: then the goroutine count is
// exactly the process's baseline (one per idle connection and its own),
// not whatever was in flight.
func warmUp(o options, f *fn, d *driver, monitor *http.Client) (warmth, sample, error) {
	var w warmth
	errs := &callErrors{}
	warm := func(n int) error {
		if d.drive(n, errs); errs.count > 0 {
			return fmt.Errorf("warm-up: %s\n%s", errs, f.logTail())
		}
		w.calls += n
		return nil
	}
	if err := warm(o.warmup); err != nil {
		return w, sample{}, err
	}
	prev, err := f.sample(monitor, 0)
	if err != nil {
		return w, prev, err
	}
	chunk := max(o.warmup/4, 500)
	for range settleChunks {
		if err := warm(chunk); err != nil {
			return w, prev, err
		}
		s, err := f.sample(monitor, 0)
		if err != nil {
			return w, s, err
		}
		if float64(s.anonKB) < float64(prev.anonKB)*(1+settleGrowth) {
			w.how = fmt.Sprintf("RssAnon settled at %.1f MiB (the last %d calls moved it %+.1f%%)",
				float64(s.anonKB)/1024, chunk, 100*(float64(s.anonKB)/float64(prev.anonKB)-1))
			return w, s, nil
		}
		prev = s
	}
	w.how = fmt.Sprintf("RssAnon still grew by %.0f%% or more per %d calls after %d chunks; measuring anyway",
		100*settleGrowth, chunk, settleChunks)
	return w, prev, nil
}

// sample is the process's resources after done measured calls.
type sample struct {
	done       int64
	rssKB      int64
	anonKB     int64
	goroutines int64
}

// fn is the running function process.
type fn struct {
	cmd        *exec.Cmd
	url        string
	metricsURL string
	logPath    string
	exited     chan struct{}
	exitCode   int
}

func run(o options, out io.Writer) error {
	dir, err := os.MkdirTemp("", "soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	f, err := start(o, dir)
	if err != nil {
		return err
	}
	defer func() {
		select {
		case <-f.exited:
		default:
			_ = f.cmd.Process.Kill()
			<-f.exited
		}
	}()
	fmt.Fprintf(out, "soak: %s (pid %d): %d calls after a warm-up of at least %d, %d callers, %d-byte bodies\n",
		filepath.Base(o.bin), f.cmd.Process.Pid, o.calls, o.warmup, o.callers, o.bodyBytes)

	monitor := &http.Client{Timeout: 10 * time.Second}
	d := newDriver(o, f.url)
	warmed, first, err := warmUp(o, f, d, monitor)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "soak: warmed up with %d calls: %s\n", warmed.calls, warmed.how)
	samples := []sample{first}
	errs := &callErrors{}
	var elapsed time.Duration
	for seg, done := 0, 0; done < o.calls; seg++ {
		n := (seg+1)*o.calls/o.samples - done
		start := time.Now()
		d.drive(n, errs)
		elapsed += time.Since(start)
		done += n
		s, err := f.sample(monitor, int64(done))
		if err != nil {
			return fmt.Errorf("sampling: %w", err)
		}
		samples = append(samples, s)
	}
	var failures []string
	fmt.Fprintf(out, "soak: %d calls in %s (%.0f calls/s), %d errors\n",
		o.calls, elapsed.Round(time.Millisecond), float64(o.calls)/elapsed.Seconds(), errs.count)
	if errs.count > 0 {
		failures = append(failures, errs.String())
	}

	// The process's own count: every call answered 200, none in flight.
	text, err := scrape(monitor, f.metricsURL)
	if err != nil {
		return err
	}
	total := int64(warmed.calls + o.calls)
	if got := metricValue(text, `http_requests_total{code="200",method="post"}`); got != float64(total) {
		failures = append(failures, fmt.Sprintf(`http_requests_total{code="200",method="post"} = %g, want %d`, got, total))
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "http_requests_total{") && !strings.HasPrefix(line, `http_requests_total{code="200",`) {
			failures = append(failures, "the process counted calls that were not 200: "+line)
		}
	}
	if got := metricValue(text, "http_requests_in_flight"); got != 0 {
		failures = append(failures, fmt.Sprintf("http_requests_in_flight = %g after the last answer, want 0", got))
	}

	failures = append(failures, report(out, o, samples)...)

	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-f.exited:
	case <-time.After(60 * time.Second):
		return fmt.Errorf("still running 60s after SIGTERM\n%s", f.logTail())
	}
	fmt.Fprintf(out, "soak: exit code %d after SIGTERM\n", f.exitCode)
	if f.exitCode != 0 {
		failures = append(failures, fmt.Sprintf("exit code %d after SIGTERM, want 0\n%s", f.exitCode, f.logTail()))
	}
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "\n"))
	}
	return nil
}

// report prints the first and last quarter's means and returns a failure
// for each resource that grew by more than the tolerance.
func report(out io.Writer, o options, samples []sample) []string {
	q := int64(o.calls) / 4
	var firstQ, lastQ []sample
	for _, s := range samples {
		switch {
		case s.done <= q:
			firstQ = append(firstQ, s)
		case s.done >= int64(o.calls)-q:
			lastQ = append(lastQ, s)
		}
	}
	fmt.Fprintf(out, "soak: %d samples; mean of the first quarter (%d samples) against the last (%d samples):\n",
		len(samples), len(firstQ), len(lastQ))
	fmt.Fprintf(out, "  %-12s %14s %14s %9s\n", "", "first quarter", "last quarter", "change")
	var failures []string
	for _, m := range []struct {
		name string
		unit string
		get  func(sample) int64
	}{
		{"VmRSS", "KiB", func(s sample) int64 { return s.rssKB }},
		{"RssAnon", "KiB", func(s sample) int64 { return s.anonKB }},
		{"goroutines", "", func(s sample) int64 { return s.goroutines }},
	} {
		a, b := mean(firstQ, m.get), mean(lastQ, m.get)
		change := (b - a) / a
		fmt.Fprintf(out, "  %-12s %14s %14s %+8.1f%%\n", m.name, format(a, m.unit), format(b, m.unit), 100*change)
		if math.IsNaN(change) || change > o.tolerance {
			failures = append(failures, fmt.Sprintf("%s grew from %s to %s (%+.1f%%), more than %.0f%%",
				m.name, format(a, m.unit), format(b, m.unit), 100*change, 100*o.tolerance))
		}
	}
	return failures
}

func mean(s []sample, get func(sample) int64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	var sum float64
	for _, x := range s {
		sum += float64(get(x))
	}
	return sum / float64(len(s))
}

func format(v float64, unit string) string {
	if unit == "KiB" {
		return fmt.Sprintf("%.1f MiB", v/1024)
	}
	return fmt.Sprintf("%.1f", v)
}

// start runs the binary on free ports and waits until /_/health answers 200.
func start(o options, dir string) (*fn, error) {
	ports, err := freeport.Get(2)
	if err != nil {
		return nil, err
	}
	port, metricsPort := ports[0], ports[1]
	f := &fn{
		url:        "http://127.0.0.1:" + strconv.Itoa(port),
		metricsURL: "http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics",
		logPath:    filepath.Join(dir, "function.log"),
		exited:     make(chan struct{}),
	}
	logFile, err := os.Create(f.logPath)
	if err != nil {
		return nil, err
	}
	f.cmd = exec.Command(o.bin)
	f.cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"port=" + strconv.Itoa(port),
		"integration_metrics_port=" + strconv.Itoa(metricsPort),
		"integration_lock_file=" + filepath.Join(dir, ".lock"),
	}, o.env...)
	f.cmd.Stdout, f.cmd.Stderr = logFile, logFile
	if err := f.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() {
		_ = f.cmd.Wait()
		logFile.Close()
		f.exitCode = f.cmd.ProcessState.ExitCode()
		close(f.exited)
	}()
	exited := func() error {
		select {
		case <-f.exited:
			return fmt.Errorf("%s exited with code %d at start", o.bin, f.exitCode)
		default:
			return nil
		}
	}
	client := &http.Client{Timeout: time.Second}
	if err := wait.Healthy(context.Background(), client, f.url+"/_/health", 10*time.Second, 20*time.Millisecond, exited); err != nil {
		_ = f.cmd.Process.Kill() // when it timed out; an exited process stays so
		<-f.exited
		return nil, fmt.Errorf("%w\n%s", err, f.logTail())
	}
	return f, nil
}

// logTail is the end of the process's log, for failure messages.
func (f *fn) logTail() string {
	b, _ := os.ReadFile(f.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return "--- last lines of the function's log:\n" + strings.Join(lines, "\n")
}

// sample reads the process's memory from /proc and its goroutine count from
// its metrics.
func (f *fn) sample(client *http.Client, done int64) (sample, error) {
	s := sample{done: done}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", f.cmd.Process.Pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "VmRSS":
			dst = &s.rssKB
		case "RssAnon":
			dst = &s.anonKB
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc status %q: %v", line, err)
		}
		*dst = kb
	}
	if s.rssKB == 0 || s.anonKB == 0 {
		return s, errors.New("no VmRSS or RssAnon in /proc/PID/status")
	}
	text, err := scrape(client, f.metricsURL)
	if err != nil {
		return s, err
	}
	g := metricValue(text, "go_goroutines")
	if g <= 0 {
		return s, errors.New("no go_goroutines on the metrics port")
	}
	s.goroutines = int64(g)
	return s, nil
}

func scrape(client *http.Client, url string) (string, error) {
	res, err := client.Get(url)
	if err != nil {
		return "", fmt.Errorf("metrics: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("metrics: %s %v", res.Status, err)
	}
	return string(b), nil
}

// metricValue is the value of the series named exactly series, or -1.
func metricValue(text, series string) float64 {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// driver makes the calls, each caller on its own keep-alive connection.
type driver struct {
	o       options
	url     string
	clients []*http.Client
	next    atomic.Int64 // calls handed out, across drive calls
}

func newDriver(o options, url string) *driver {
	d := &driver{o: o, url: url + "/"}
	for range o.callers {
		tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
		d.clients = append(d.clients, &http.Client{Transport: tr, Timeout: 30 * time.Second})
	}
	return d
}

// callErrors counts failed calls and keeps the first few messages.
type callErrors struct {
	mu    sync.Mutex
	count int
	first []string
}

func (e *callErrors) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count++
	if len(e.first) < 10 {
		e.first = append(e.first, fmt.Sprintf(format, args...))
	}
}

func (e *callErrors) String() string {
	if e.count == 0 {
		return "no errors"
	}
	return fmt.Sprintf("%d calls failed; the first:\n  %s", e.count, strings.Join(e.first, "\n  "))
}

// drive makes n calls and returns once every caller is done.
func (d *driver) drive(n int, errs *callErrors) {
	var handed atomic.Int64
	var wg sync.WaitGroup
	for c := range d.o.callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := d.clients[c]
			body := make([]byte, d.o.bodyBytes)
			for i := range body {
				body[i] = 'a' + byte((c+i)%26)
			}
			for handed.Add(1) <= int64(n) {
				id := d.next.Add(1)
				// A body unique to the call, so a mixed-up answer shows.
				copy(body, fmt.Sprintf("%015d|", id))
				if err := d.call(client, body); err != nil {
					errs.add("call %d: %v", id, err)
				}
			}
		}()
	}
	wg.Wait()
}

func (d *driver) call(client *http.Client, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	switch {
	case err != nil:
		return fmt.Errorf("reading the answer: %w", err)
	case res.StatusCode != http.StatusOK:
		return fmt.Errorf("%s: %.200s", res.Status, got)
	case !bytes.Equal(got, body):
		return fmt.Errorf("the answer is not the body echoed: %.40q...", got)
	}
	return nil
}
