package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The functions of the end-to-end stack: caller (golang-middleware-inproc)
// reads a secret and calls echo (golang-http-inproc) through the gateway
// route, passing its X-Call-Id on; ticker streams SSE.
const (
	callerHandler = `package function

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/inproc-go/templates/watchdog"
)

func Handle(w http.ResponseWriter, r *http.Request) {
	key, err := watchdog.Secret(r.Context(), "api-key")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, os.Getenv("gateway_url")+"/function/echo", strings.NewReader("from caller"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header.Set("X-Call-Id", r.Header.Get("X-Call-Id"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		http.Error(w, fmt.Sprintf("echo answered %d: %s", res.StatusCode, body), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, "secret=%s echo=%s", key, body)
}
`
	echoHandler = `package function

import (
	"fmt"
	"net/http"
	"os"

	handler "github.com/inproc-go/templates/watchdog/go-http"
)

func Handle(req handler.Request) (handler.Response, error) {
	body := fmt.Sprintf("v1 %s %s GOMEMLIMIT=%s", os.Getenv("greeting"), req.Body, os.Getenv("GOMEMLIMIT"))
	return handler.Response{Body: []byte(body), StatusCode: http.StatusOK}, nil
}
`
	tickerHandler = `package function

import (
	"fmt"
	"net/http"
	"sync"
)

var (
	release = make(chan struct{})
	once    sync.Once
)

// Handle streams two events; the second waits for a call to /release.
func Handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/release" {
		once.Do(func() { close(release) })
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fmt.Fprint(w, "data: one\n\n")
	http.NewResponseController(w).Flush()
	select {
	case <-release:
	case <-r.Context().Done():
		return
	}
	fmt.Fprint(w, "data: two\n\n")
}
`
)

// lockedBuffer is the stack's output, read while it is written.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runningStack is scripts/localstack's command running a stack.
type runningStack struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *lockedBuffer
	url    string
	dir    string
	exited chan error
}

// withSDKProxy skips the test unless it runs under scripts/sdk.sh run (and
// fails it under CI), and returns the repository root.
func withSDKProxy(t *testing.T) string {
	t.Helper()
	if os.Getenv("INPROC_SDK_PROXY") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("INPROC_SDK_PROXY is not set: run the tests through scripts/test.sh")
		}
		t.Skip("needs the SDK's module proxy: run as scripts/sdk.sh run -- go test ./localstack/")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// startStack lays out a stack as "faas-cli template pull" and "faas-cli
// new" make it, with the functions above, and starts the command on it.
func startStack(t *testing.T) *runningStack {
	repo := withSDKProxy(t)
	dir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "local-stack")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	files := map[string]string{
		"stack.yaml": fmt.Sprintf(`version: 1.0
provider:
  name: openfaas
  gateway: http://%[1]s
functions:
  caller:
    lang: golang-middleware-inproc
    handler: ./caller
    image: caller:latest
    environment:
      gateway_url: http://%[1]s
    secrets:
      - api-key
  echo:
    lang: golang-http-inproc
    handler: ./echo
    image: echo:latest
    environment:
      greeting: from-stack
    environment_file:
      - echo-env.yaml
    limits:
      memory: 64Mi
  ticker:
    lang: golang-middleware-inproc
    handler: ./ticker
    image: ticker:latest
  web:
    lang: node20
    handler: ./web
`, addr),
		"echo-env.yaml":     "environment:\n  greeting: from-file\n",
		".secrets/api-key":  "s3cret\n",
		"caller/handler.go": callerHandler,
		"echo/handler.go":   echoHandler,
		"ticker/handler.go": tickerHandler,
	}
	writeFiles(t, dir, files)
	for fn, lang := range map[string]string{"caller": "golang-middleware-inproc", "echo": "golang-http-inproc", "ticker": "golang-middleware-inproc"} {
		tpl := filepath.Join(repo, "template", lang)
		if err := os.CopyFS(filepath.Join(dir, "template", lang), os.DirFS(tpl)); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		for _, f := range []string{"go.mod", "go.sum"} {
			data, err := os.ReadFile(filepath.Join(tpl, "function", f))
			if err != nil {
				t.Fatal(err)
			}
			writeFiles(t, dir, map[string]string{filepath.Join(fn, f): string(data)})
		}
	}
	s := &runningStack{t: t, out: &lockedBuffer{}, url: "http://" + addr, dir: dir, exited: make(chan error, 1)}
	s.cmd = exec.Command(bin, "-repo", repo, "-listen", addr)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("the stack's output:\n%s", s.out.String())
		}
	})
	return s
}

// waitFor polls cond (every 50ms, up to limit) until it holds, failing the
// test if the stack exits first.
func (s *runningStack) waitFor(what string, limit time.Duration, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("no %s within %s", what, limit)
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			s.t.Fatalf("waiting for %s: the stack exited (%v)", what, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// call POSTs body to the gateway's path with the given call id ("" for
// none) and returns the status, body and the answer's X-Call-Id.
func (s *runningStack) call(path, callID string) (int, string, string) {
	req, err := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader("hi"))
	if err != nil {
		s.t.Fatal(err)
	}
	if callID != "" {
		req.Header.Set("X-Call-Id", callID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error(), ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header.Get("X-Call-Id")
}

// logged reports whether fn printed a line holding every one of parts.
func (s *runningStack) logged(fn string, parts ...string) bool {
	head := regexp.MustCompile(`^` + regexp.QuoteMeta(fn) + ` +\| `)
	for _, l := range strings.Split(s.out.String(), "\n") {
		if !head.MatchString(l) {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}

func (s *runningStack) edit(name, old, new string) {
	s.t.Helper()
	p := filepath.Join(s.dir, name)
	data, err := os.ReadFile(p)
	if err != nil || !strings.Contains(string(data), old) {
		s.t.Fatalf("%s: %v, or no %q in it", name, err, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// TestStack runs a stack of both templates end to end: calls through the
// gateway route from one function to the other with one call id, the
// secret, the environment, SSE, a rebuild on save with no failed call
// across the swap, a broken save that keeps the old build serving, idle
// wakeups, and Ctrl-C's drain with exit status 0.
func TestStack(t *testing.T) {
	s := startStack(t)
	s.waitFor("web skipped", time.Minute, func() bool {
		return strings.Contains(s.out.String(), `local-stack: skipped web: lang "node20" is not one of this repository's templates`)
	})
	s.waitFor("three functions ready", 5*time.Minute, func() bool {
		return strings.Count(s.out.String(), "local-stack: built and ready") == 3
	})
	loopbackOnly(t, s.cmd.Process.Pid, 3)

	want := "secret=s3cret echo=v1 from-file from caller GOMEMLIMIT=67108864"
	code, body, id := s.call("/function/caller", "call-kept-1")
	if code != http.StatusOK || body != want || id != "call-kept-1" {
		t.Fatalf("caller answered %d %q (X-Call-Id %q); want 200 %q with the call id sent", code, body, id, want)
	}
	code, _, id = s.call("/function/caller/", "")
	if code != http.StatusOK || id == "" {
		t.Fatalf("caller answered %d with X-Call-Id %q; want 200 and a new call id", code, id)
	}
	for _, callID := range []string{"call-kept-1", id} {
		s.waitFor("call id "+callID+" in both functions' logs", 30*time.Second, func() bool {
			return s.logged("caller", "call_id="+callID) && s.logged("echo", "call_id="+callID)
		})
	}

	t.Run("SSE", func(t *testing.T) {
		// A stream held back until its end fails at this deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/function/ticker", nil)
		req.Header.Set("Accept", "text/event-stream")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		r := bufio.NewReader(res.Body)
		// The second event waits for /release: a stream held back until
		// its end would block here.
		if first, err := r.ReadString('\n'); err != nil || first != "data: one\n" {
			t.Fatalf("first line %q, %v; want the first event while the stream is open", first, err)
		}
		if code, body, _ := s.call("/function/ticker/release", ""); code != http.StatusOK {
			t.Fatalf("release: %d %q", code, body)
		}
		if rest, err := io.ReadAll(r); err != nil || string(rest) != "\ndata: two\n\n" {
			t.Errorf("rest of the stream %q, %v", rest, err)
		}
	})

	// A loop of calls across the swap: every one must answer 200.
	stop := make(chan struct{})
	var failures []string
	var calls int
	var loop sync.WaitGroup
	loop.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			code, body, _ := s.call("/function/caller", "")
			calls++
			if code != http.StatusOK {
				failures = append(failures, fmt.Sprintf("%d %q", code, body))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	s.edit("echo/handler.go", `"v1 %s`, `"v2 %s`)
	s.waitFor("the edit's answer", 3*time.Minute, func() bool {
		_, body, _ := s.call("/function/caller", "")
		return strings.Contains(body, "echo=v2 ")
	})
	// The old process drains while the loop goes on.
	s.waitFor("the old echo drained", time.Minute, func() bool { return s.logged("echo", "shutdown: complete") })
	close(stop)
	loop.Wait()
	if len(failures) > 0 || calls == 0 {
		t.Errorf("%d of %d calls across the swap failed: %q", len(failures), calls, failures)
	} else {
		t.Logf("%d calls across the swap, all 200", calls)
	}

	// A broken save: the compiler's error is printed, v2 keeps serving.
	s.edit("echo/handler.go", "func Handle(", "var broken int = \"not an int\"\n\nfunc Handle(")
	s.waitFor("the compiler's error", 3*time.Minute, func() bool {
		return s.logged("echo", "build failed (the previous build keeps serving)") && s.logged("echo", "handler.go", "cannot use \"not an int\"")
	})
	if code, body, _ := s.call("/function/caller", ""); code != http.StatusOK || !strings.Contains(body, "echo=v2 ") {
		t.Errorf("after a broken save: %d %q, want the previous build's v2", code, body)
	}

	idleWakeups(t, s.cmd.Process.Pid)

	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-s.exited:
		if err != nil {
			t.Fatalf("after Ctrl-C: %v, want exit status 0", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("no exit within a minute of Ctrl-C")
	}
	for _, fn := range []string{"caller", "echo", "ticker"} {
		if !s.logged(fn, "local-stack: stopped: exit status 0") {
			t.Errorf("%s did not drain to exit status 0", fn)
		}
	}
	if !strings.Contains(s.out.String(), "local-stack: every function drained") {
		t.Error("no 'every function drained' line")
	}
}

// loopbackOnly: the stack has n function processes, and each listens on
// two sockets (its port and its metrics port), both on 127.0.0.1, as
// ss -ltnpH lists them: a function that bound every interface would answer
// the network.
func loopbackOnly(t *testing.T, stack, n int) {
	t.Helper()
	fns := children(t, stack)
	if len(fns) != n {
		t.Fatalf("the stack has %d child processes %v, want its %d functions", len(fns), fns, n)
	}
	out, err := exec.Command("ss", "-ltnpH").Output()
	if err != nil {
		t.Fatalf("ss -ltnpH: %v", err)
	}
	for _, pid := range fns {
		var addrs []string
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) >= 4 && strings.Contains(line, fmt.Sprintf("pid=%d,", pid)) {
				addrs = append(addrs, f[3])
			}
		}
		if len(addrs) != 2 {
			t.Errorf("function process %d listens on %q, want its port and metrics port\n%s", pid, addrs, out)
		}
		for _, addr := range addrs {
			if host, _, _ := strings.Cut(addr, ":"); host != loopback {
				t.Errorf("function process %d listens on %s, want %s only (ss -ltnpH: %q)", pid, addr, loopback, addrs)
			}
		}
	}
}

// children are the pids of pid's child processes, from /proc/*/stat.
func children(t *testing.T, pid int) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, stat := range stats {
		data, err := os.ReadFile(stat)
		if err != nil {
			continue // a process that exited
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		rest := string(data[bytes.LastIndexByte(data, ')')+1:])
		if f := strings.Fields(rest); len(f) >= 2 && f[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(stat)))
			kids = append(kids, child)
		}
	}
	return kids
}

// idleWakeups counts the stack process's voluntary context switches (all
// its threads, as tests/bench counts idle wakeups) over quiet windows and
// fails if every window has more than the bound: a file watcher that polls
// every 300ms or faster exceeds it in each, while the Go runtime's own
// after-work (the scavenger returning memory, a forced GC) settles within a
// window or two.
func idleWakeups(t *testing.T, pid int) {
	const window, bound, windows = 3 * time.Second, 10, 3
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/task", pid)); err != nil {
		t.Logf("idle wakeups not measured: %v", err)
		return
	}
	http.DefaultClient.CloseIdleConnections()
	var counts []int
	for range windows {
		before := switches(t, pid)
		time.Sleep(window)
		n := switches(t, pid) - before
		counts = append(counts, n)
		if n <= bound {
			t.Logf("idle wakeups of the stack process: %v over windows of %s", counts, window)
			return
		}
	}
	t.Errorf("voluntary context switches %v over each of %d windows of %s while nothing changed, want at most %d in one: something polls", counts, windows, window, bound)
}

func switches(t *testing.T, pid int) int {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	n := 0
	for _, task := range tasks {
		data, err := os.ReadFile(task)
		if err != nil {
			continue // a thread that exited
		}
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "voluntary_ctxt_switches:"); ok {
				c, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil {
					t.Fatalf("%s: %q", task, l)
				}
				n += c
			}
		}
	}
	return n
}

// TestSecondCtrlC: a second Ctrl-C while a function drains a call in flight
// exits at once, status 1, and the function's process goes with it.
func TestSecondCtrlC(t *testing.T) {
	s := startStack(t)
	s.waitFor("three functions ready", 5*time.Minute, func() bool {
		return strings.Count(s.out.String(), "local-stack: built and ready") == 3
	})
	ticker := regexp.MustCompile(`ticker +\| local-stack: built and ready in \S+, at (http://\S+)`).FindStringSubmatch(s.out.String())
	if ticker == nil {
		t.Fatal("no address of ticker's process in the output")
	}
	// A stream in flight: ticker's drain waits for it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/function/ticker", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	s.cmd.Process.Signal(syscall.SIGINT)
	s.waitFor("the drain", time.Minute, func() bool { return strings.Contains(s.out.String(), "draining every function") })
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-s.exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("after a second Ctrl-C: %v, want exit status 1", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of a second Ctrl-C")
	}
	if strings.Contains(s.out.String(), "every function drained") || !strings.Contains(s.out.String(), "again: exiting now") {
		t.Errorf("want an exit without the drain's end, saying so")
	}
	s.waitFor("ticker's process gone", 10*time.Second, func() bool {
		_, err := http.Get(ticker[1] + "/_/health")
		return err != nil
	})
}
