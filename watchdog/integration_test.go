package watchdog_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// The integration tests run testdata/integration, watchdog.Main around an
// echo handler, as a real process: real signals, real exit codes, real
// sockets on 127.0.0.1.

// buildIntegration builds testdata/integration into the test's temp dir.
func buildIntegration(t *testing.T) string {
	t.Helper()
	return buildTestdata(t, "integration")
}

// buildTestdata builds the command testdata/name into the test's temp dir.
func buildTestdata(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./testdata/%s: %v\n%s", name, err, out)
	}
	return bin
}

// fnProcess is one run of the integration binary.
type fnProcess struct {
	t          *testing.T
	cmd        *exec.Cmd
	url        string // http://127.0.0.1:port
	metricsURL string // http://127.0.0.1:metrics/metrics
	stderr     *testkit.Buffer
	exited     chan struct{} // closed when the process has exited
	exitCode   int
}

// fnCommand is bin with env added to a minimal environment, a lock file of
// the test's own, and two listeners on free ports of 127.0.0.1 passed down
// (testdata/fnenv's integration_listeners), so no port is guessed and lost
// to another process. Call started once cmd has started: it closes the
// test's copies of the listeners, so that the ports refuse connections once
// the process closes its own.
func fnCommand(t *testing.T, bin, lockFile string, env ...string) (cmd *exec.Cmd, fnAddr, metricsAddr string, started func()) {
	t.Helper()
	fn, metrics := testkit.Listen(t), testkit.Listen(t)
	var files []*os.File
	for _, ln := range []net.Listener{fn, metrics} {
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	cmd = exec.Command(bin)
	cmd.ExtraFiles = files // file descriptors 3 and 4
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"integration_listeners=inherited",
		"integration_lock_file=" + lockFile,
	}, env...)
	started = func() {
		for _, f := range files {
			f.Close()
		}
		fn.Close()
		metrics.Close()
	}
	return cmd, fn.Addr().String(), metrics.Addr().String(), started
}

// startFn runs the integration binary (see fnCommand) with JSON logs and
// waits until /_/health answers 200. The process is killed when the test
// ends if it is still running.
func startFn(t *testing.T, bin string, env ...string) *fnProcess {
	t.Helper()
	cmd, fnAddr, metricsAddr, started := fnCommand(t, bin, filepath.Join(t.TempDir(), ".lock"),
		append([]string{"log_format=json"}, env...)...)
	p := &fnProcess{t: t, cmd: cmd, stderr: &testkit.Buffer{}, exited: make(chan struct{}),
		url: "http://" + fnAddr, metricsURL: "http://" + metricsAddr + "/metrics"}
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started()
	go func() {
		_ = p.cmd.Wait()
		p.exitCode = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	if err := p.waitHealthy(10 * time.Second); err != nil {
		t.Fatalf("integration binary: %v\n%s", err, p.stderr.String())
	}
	return p
}

func (p *fnProcess) waitHealthy(timeout time.Duration) error {
	return testkit.WaitHealthy(p.url, timeout, func() error {
		select {
		case <-p.exited:
			return fmt.Errorf("exited with code %d at start", p.exitCode)
		default:
			return nil
		}
	})
}

// wait waits for the process to exit and returns its exit code.
func (p *fnProcess) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.exitCode
	case <-time.After(timeout):
		p.t.Fatalf("process still running %s after SIGTERM\n%s", timeout, p.stderr.String())
		return -1
	}
}

// logRecords parses the process's JSON log lines; other lines are returned
// as text.
func (p *fnProcess) logRecords() (records []map[string]any, text []string) {
	return testkit.ParseLogs(p.stderr.String())
}

// callOutcome is what one caller saw of one call.
type callOutcome struct {
	id      string
	ok      bool // 200 with its own body echoed
	refused bool // the connection was refused: nothing listens any more
	err     error
	at      time.Time // when the outcome was known
}

// keepAliveCaller calls url in a loop on one keep-alive connection until a
// connection is refused or stop is closed, recording every outcome.
func keepAliveCaller(name, url string, stop <-chan struct{}, out *[]callOutcome) {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		o := postEcho(client, url, fmt.Sprintf("%s-%06d", name, n))
		*out = append(*out, o)
		if o.refused {
			return
		}
	}
}

// postEcho POSTs id as body and call id, as the gateway would, and checks the
// echo. POST is not retried by the client, so a connection the server drops
// shows up here rather than being hidden by a retry.
func postEcho(client *http.Client, url, id string) callOutcome {
	o := callOutcome{id: id}
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(id))
	if err != nil {
		panic(err)
	}
	req.Header.Set("X-Call-Id", id)
	res, err := client.Do(req)
	o.at = time.Now()
	if err != nil {
		o.err, o.refused = err, errors.Is(err, syscall.ECONNREFUSED)
		return o
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	o.at = time.Now()
	switch {
	case err != nil:
		o.err = fmt.Errorf("reading the answer: %w", err)
	case res.StatusCode != http.StatusOK:
		o.err = fmt.Errorf("%s: %.200s", res.Status, body)
	case string(body) != id:
		o.err = fmt.Errorf("echo %.100q, want %q", body, id)
	default:
		o.ok = true
	}
	return o
}

// healthSample is one answer of /_/health on a fresh connection.
type healthSample struct {
	at      time.Time
	code    int // 0 when refused
	refused bool
	err     error
}

// probeHealth asks /_/health on a new connection every 10ms until the
// connection is refused.
func probeHealth(url string) []healthSample {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	var out []healthSample
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		res, err := client.Get(url + "/_/health")
		s := healthSample{at: time.Now(), err: err}
		if err != nil {
			s.refused = errors.Is(err, syscall.ECONNREFUSED)
		} else {
			s.code = res.StatusCode
			res.Body.Close()
		}
		out = append(out, s)
		if s.refused {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return out
}

// loadRun is a SIGTERM-under-load run's settings.
type loadRun struct {
	env       []string      // the watchdog's settings
	callers   int           // keep-alive callers, in loops until refused
	query     string        // each call's query string, e.g. "?sleep=5ms"
	before    time.Duration // load before SIGTERM
	stuck     int           // further callers, making one call each ...
	stuckCall string        // ... with this query string, before SIGTERM
	wantExit  int
}

// loadResult is what a run saw, for the test's checks and its log.
type loadResult struct {
	p             *fnProcess
	exitCode      int
	outcomes      map[string]callOutcome // by call id
	perCaller     [][]callOutcome
	stuckIDs      []string
	sigterm       time.Time
	health        []healthSample
	started       map[string]bool // call ids the handler logged "handler started" for
	completed     map[string]int  // call id -> status of its "call" access log line
	records       []map[string]any
	text          []string
	lastFnRefusal time.Time
	// listenerClosed is when the process logged that it stops accepting
	// connections, less the log's millisecond truncation.
	listenerClosed time.Time
	resetAtClose   int // health probes reset by the listener's closing
}

func runUnderLoad(t *testing.T, bin string, spec loadRun) *loadResult {
	t.Helper()
	p := startFn(t, bin, spec.env...)
	r := &loadResult{p: p, outcomes: map[string]callOutcome{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	r.perCaller = make([][]callOutcome, spec.callers+spec.stuck)
	for i := 0; i < spec.callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keepAliveCaller(fmt.Sprintf("c%02d", i), p.url+"/"+spec.query, stop, &r.perCaller[i])
		}()
	}
	for i := 0; i < spec.stuck; i++ {
		id := fmt.Sprintf("stuck%02d", i)
		r.stuckIDs = append(r.stuckIDs, id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}, Timeout: 60 * time.Second}
			r.perCaller[spec.callers+i] = []callOutcome{postEcho(client, p.url+"/"+spec.stuckCall, id)}
		}()
	}
	// A safety net: no caller runs on for ever if the process never stops.
	safety := time.AfterFunc(90*time.Second, func() { close(stop) })
	defer safety.Stop()

	time.Sleep(spec.before)
	// The stuck calls must be in the handler before the signal.
	for _, id := range r.stuckIDs {
		waitLog(t, p, `"call_id":"`+id+`"`)
	}
	r.sigterm = time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r.health = probeHealth(p.url)
	r.exitCode = p.wait(60 * time.Second)
	wg.Wait()

	for _, calls := range r.perCaller {
		for _, o := range calls {
			r.outcomes[o.id] = o
			if o.refused && o.at.After(r.lastFnRefusal) {
				r.lastFnRefusal = o.at
			}
		}
	}
	r.records, r.text = p.logRecords()
	r.started, r.completed = map[string]bool{}, map[string]int{}
	r.listenerClosed = time.Now().Add(time.Hour) // when never logged, no error is excused
	for _, rec := range r.records {
		id, _ := rec["call_id"].(string)
		switch rec["msg"] {
		case "shutdown: no new connections; draining":
			ts, _ := rec["time"].(string)
			at, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil {
				t.Fatalf("drain log line: time %q: %v", ts, err)
			}
			r.listenerClosed = at.Add(-time.Millisecond)
		case "handler started":
			r.started[id] = true
		case "call":
			status, _ := rec["status"].(float64)
			r.completed[id] = int(status)
		}
	}
	return r
}

// waitLog waits until the process has logged a line containing s.
func waitLog(t *testing.T, p *fnProcess, s string) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, "a log line with "+s, func() bool { return strings.Contains(p.stderr.String(), s) })
}

// check verifies what every run must show: the exit code; /_/health 503
// from the signal on while calls were still served, then refused; every call
// the process accepted answered 200 and received, except the stuck ones,
// which must have been cut; every caller ending on a refused connection.
// It returns the counts for the test's log.
func (r *loadResult) check(t *testing.T, spec loadRun) {
	t.Helper()
	if r.exitCode != spec.wantExit {
		t.Errorf("exit code %d, want %d", r.exitCode, spec.wantExit)
	}

	// Health: 503 after the signal, never 200 again, then refused.
	first503 := -1
	for i, s := range r.health {
		switch {
		case s.code == http.StatusServiceUnavailable && first503 < 0:
			first503 = i
		case s.code == http.StatusOK && first503 >= 0:
			t.Errorf("/_/health answered 200 at %s, after 503 at %s",
				s.at.Sub(r.sigterm), r.health[first503].at.Sub(r.sigterm))
		case s.err != nil && !s.refused && s.at.Before(r.listenerClosed):
			t.Errorf("/_/health at %s, before the listener closed: %v", s.at.Sub(r.sigterm), s.err)
		case s.err != nil && !s.refused:
			// A connection the kernel had accepted, still in the listen
			// backlog when the listener closed, is reset: TCP gives no
			// cleaner way to stop listening.
			r.resetAtClose++
		}
	}
	if first503 < 0 {
		t.Fatalf("/_/health never answered 503 after SIGTERM: %v", r.health)
	}
	if last := r.health[len(r.health)-1]; !last.refused {
		t.Errorf("/_/health probing did not end on a refused connection: %+v", last)
	}
	t503 := r.health[first503].at
	servedWhile503 := 0
	for _, o := range r.outcomes {
		if o.ok && o.at.After(t503) {
			servedWhile503++
		}
	}
	if servedWhile503 == 0 {
		t.Errorf("no call was answered after /_/health turned 503: the drain stopped serving at once")
	}
	t.Logf("/_/health: 503 %s after SIGTERM (%d probes answered 200 before it); %d calls answered after that",
		t503.Sub(r.sigterm).Round(time.Millisecond), first503, servedWhile503)

	var accepted, completed, refused, unread int
	stuck := map[string]bool{}
	for _, id := range r.stuckIDs {
		stuck[id] = true
	}
	for id := range r.started {
		accepted++
		o, known := r.outcomes[id]
		switch {
		case !known:
			t.Errorf("the process logged call id %q, which no caller sent", id)
		case stuck[id]:
			if o.ok {
				t.Errorf("stuck call %s answered 200; it should have been cut off at write_timeout", id)
			}
		case !o.ok:
			t.Errorf("call %s was accepted (the handler started) but the caller got: %v", id, o.err)
		case r.completed[id] != http.StatusOK:
			t.Errorf("call %s: access log status %d, want 200", id, r.completed[id])
		default:
			completed++
		}
	}
	for id, o := range r.outcomes {
		switch {
		case o.ok && !r.started[id]:
			t.Errorf("call %s answered 200 without the process logging it", id)
		case o.refused:
			refused++
		case o.err != nil && !r.started[id] && o.at.Before(r.listenerClosed):
			t.Errorf("call %s failed before the listener closed: %v", id, o.err)
		case o.err != nil && !r.started[id]:
			// Sent as the listener closed, on a keep-alive connection the
			// server closed unread or on a new one still in the listen
			// backlog: the process never saw the call, so nothing it
			// accepted was lost, but the caller learns it by an error
			// rather than a refused connection.
			unread++
		}
	}
	for i, calls := range r.perCaller[:spec.callers] {
		if len(calls) == 0 {
			t.Errorf("caller %d made no call", i)
			continue
		}
		if last := calls[len(calls)-1]; !last.refused {
			t.Errorf("caller %d: last call %s ended with %v, want a refused connection", i, last.id, last.err)
		}
	}
	// After the process exits, nothing listens on its port.
	if c, err := net.DialTimeout("tcp", r.p.url[len("http://"):], time.Second); err == nil {
		c.Close()
		t.Errorf("a connection to the function port succeeded after the process exited")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dialing the function port after exit: %v, want connection refused", err)
	}
	t.Logf("calls accepted %d, answered 200 %d, cut off %d; refused after the drain %d; "+
		"unread as the listener closed %d; health probes reset as it closed %d",
		accepted, completed, len(r.stuckIDs), refused, unread, r.resetAtClose)
}

// logged reports whether the process logged a record with msg matching re.
func (r *loadResult) logged(re string) (map[string]any, bool) {
	rx := regexp.MustCompile(re)
	for _, rec := range r.records {
		if msg, _ := rec["msg"].(string); rx.MatchString(msg) {
			return rec, true
		}
	}
	return nil, false
}

// TestSIGTERMUnderLoad sends SIGTERM to a process serving 64 keep-alive
// callers: every call it accepted is answered 200, /_/health turns 503 while
// calls are still served, later connections are refused, and the exit code
// tells whether the drain was clean.
func TestSIGTERMUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the integration binary")
	}
	bin := buildIntegration(t)

	t.Run("fast calls", func(t *testing.T) {
		t.Parallel()
		spec := loadRun{
			env:     []string{"healthcheck_interval=1s", "exec_timeout=5s"},
			callers: 64, query: "?sleep=2ms", before: 300 * time.Millisecond,
			wantExit: 0,
		}
		r := runUnderLoad(t, bin, spec)
		r.check(t, spec)
		if _, ok := r.logged(`^shutdown: complete`); !ok {
			t.Errorf("no 'shutdown: complete' log line\n%s", r.p.stderr.String())
		}
	})

	t.Run("calls longer than healthcheck_interval", func(t *testing.T) {
		t.Parallel()
		spec := loadRun{
			env:     []string{"healthcheck_interval=300ms", "exec_timeout=5s"},
			callers: 64, query: "?sleep=1s", before: 1500 * time.Millisecond,
			wantExit: 0,
		}
		r := runUnderLoad(t, bin, spec)
		r.check(t, spec)
		// The drain had calls to wait for once the listener closed.
		rec, ok := r.logged(`^shutdown: no new connections; draining`)
		if !ok {
			t.Fatalf("no drain log line\n%s", r.p.stderr.String())
		}
		if n, _ := rec["in_flight"].(float64); n == 0 {
			t.Errorf("no call in flight when the listener closed: the test did not test the drain\n%v", rec)
		}
	})

	t.Run("write_timeout shorter than the slowest call", func(t *testing.T) {
		t.Parallel()
		spec := loadRun{
			env:     []string{"healthcheck_interval=500ms", "exec_timeout=20s", "write_timeout=1s"},
			callers: 60, query: "?sleep=2ms", before: 300 * time.Millisecond,
			stuck: 4, stuckCall: "?hold=30s",
			wantExit: 1,
		}
		r := runUnderLoad(t, bin, spec)
		r.check(t, spec)
		if _, ok := r.logged(`^shutdown: 4 call\(s\) still running after write_timeout \(1s\) were cut off$`); !ok {
			t.Errorf("no log line saying 4 calls were cut off\n%s", r.p.stderr.String())
		}
		if !strings.Contains(strings.Join(r.text, "\n"), "watchdog: shutdown: 4 call(s) still running") {
			t.Errorf("Main did not report the cut-off calls on stderr: %q", r.text)
		}
		for _, id := range r.stuckIDs {
			if o := r.outcomes[id]; o.ok || o.err == nil {
				t.Errorf("stuck call %s: %+v, want an error", id, o)
			}
		}
	})
}

// A second SIGTERM exits at once with code 1, but the log lines queued
// before it (the call, the start of the drain) still reach stderr.
func TestSecondSignalKeepsQueuedLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the integration binary")
	}
	// A batch interval of an hour: whatever reaches stderr before the
	// second signal was not written by the batch timer.
	p := startFn(t, buildIntegration(t), "healthcheck_interval=10s", "log_flush_interval=1h")
	res, err := http.Post(p.url+"/", "text/plain", strings.NewReader("hi"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// The call is counted after its access line is queued (metrics wrap the
	// access log): once the count is there, the line waits in the batch.
	const counted = `http_requests_total{code="200",method="post"}`
	testkit.WaitFor(t, 10*time.Second, counted+" 1", func() bool {
		_, scrape := testkit.Get(t, p.metricsURL)
		v, ok, _ := testkit.MetricValue(scrape, counted)
		return ok && v == 1
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Draining: the first signal was handled and its log line queued.
	health := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	testkit.WaitFor(t, 10*time.Second, "/_/health 503", func() bool {
		res, err := health.Get(p.url + "/_/health")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusServiceUnavailable
	})
	const drain = "shutdown: health answers 503; still serving while endpoints update"
	early, _ := p.logRecords()
	if msgs := testkit.Messages(early); slices.Contains(msgs, "call") || slices.Contains(msgs, drain) {
		t.Fatalf("logged before the second signal, so the test can't tell a flush at exit: %q", msgs)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(5 * time.Second); code != 1 {
		t.Errorf("exit code after a second SIGTERM = %d, want 1", code)
	}
	records, text := p.logRecords()
	msgs := testkit.Messages(records)
	for _, want := range []string{"call", drain} {
		if !slices.Contains(msgs, want) {
			t.Errorf("log line %q lost at the second signal; logged: %q", want, msgs)
		}
	}
	if !slices.ContainsFunc(text, func(l string) bool { return strings.Contains(l, "second signal") }) {
		t.Errorf("no 'second signal' line in %q", text)
	}
}
