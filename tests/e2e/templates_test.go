package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/inproc-go/templates/tests/internal/container"
	"github.com/inproc-go/templates/tests/internal/wait"
)

// templates are built with the probe handlers in testdata/probe/<lang>,
// which overlay the template's function/ folder as faas-cli would.
var templates = []string{"golang-middleware-inproc", "golang-http-inproc"}

// TestTemplates builds each template's Dockerfile unchanged and checks the
// image against the OpenFaaS function contract.
func TestTemplates(t *testing.T) {
	requireE2E(t)
	for _, lang := range templates {
		t.Run(lang, func(t *testing.T) {
			image := "localhost/inproc-e2e/probe-" + lang + ":latest"
			container.BuildFunction(t, container.Function{
				Lang: lang, Handler: filepath.Join("testdata", "probe", lang), Tag: image,
			})
			t.Run("image", func(t *testing.T) { testImage(t, image) })
			t.Run("contract", func(t *testing.T) { testContract(t, image) })
			t.Run("max_inflight", func(t *testing.T) { testMaxInflight(t, image) })
			t.Run("exec_timeout", func(t *testing.T) { testExecTimeout(t, image) })
			t.Run("panic", func(t *testing.T) { testPanic(t, image) })
			if lang == "golang-middleware-inproc" {
				t.Run("streaming", func(t *testing.T) { testStreaming(t, image) })
			} else {
				t.Run("error", func(t *testing.T) { testHandlerError(t, image) })
			}
			t.Run("drain", func(t *testing.T) { testDrain(t, image) })
			t.Run("read_only", func(t *testing.T) { testReadOnly(t, image) })
			t.Run("bad_config", func(t *testing.T) { testBadConfig(t, image) })
		})
	}
}

func testImage(t *testing.T, image string) {
	img := container.InspectImage(t, image)
	t.Logf("image %s: %d bytes, %d layer(s), user %q", image, img.Size, img.Layers, img.User)
	if img.Layers != 1 {
		t.Errorf("layers = %d, want 1", img.Layers)
	}
	if img.User != "12000:12000" {
		t.Errorf("user = %q, want the non-root 12000:12000", img.User)
	}
	if img.Size > 12<<20 {
		t.Errorf("image is %d bytes, want under 12 MiB for one static binary", img.Size)
	}
}

func testContract(t *testing.T, image string) {
	c := container.Run(t, image)
	t.Logf("start to healthy: %s", c.StartupTime)

	res := do(t, http.MethodPost, c.URL("/?secret=1"), "hello", nil)
	expect(t, res, http.StatusOK, "hello")
	if res.Header.Get("X-Call-Id") == "" {
		t.Error("no X-Call-Id on the response")
	}
	res = do(t, http.MethodGet, c.URL("/"), "", map[string]string{"X-Call-Id": "e2e-call-42"})
	if got := res.Header.Get("X-Call-Id"); got != "e2e-call-42" {
		t.Errorf("X-Call-Id = %q, want the caller's e2e-call-42", got)
	}

	// Functions read their static/ folder by a relative path.
	expect(t, do(t, http.MethodGet, c.URL("/static"), "", nil), http.StatusOK, "hello from static/\n")

	expect(t, do(t, http.MethodGet, c.URL("/_/health"), "", nil), http.StatusOK, "OK")
	expect(t, do(t, http.MethodHead, c.URL("/_/health"), "", nil), http.StatusMethodNotAllowed, "")
	expect(t, do(t, http.MethodGet, c.URL("/_/ready"), "", nil), http.StatusOK, "")

	metrics := do(t, http.MethodGet, c.MetricsURL("/metrics"), "", nil)
	for _, series := range []string{
		`http_requests_total{code="200",method="post"} 1`,
		`http_request_duration_seconds_bucket{code="200",method="post",le="0.005"}`,
		`http_requests_in_flight `,
	} {
		if !strings.Contains(metrics.body, series) {
			t.Errorf("metrics lack %s", series)
		}
	}

	// The exec probe faas-netes uses without HTTP probes, in an image with
	// no shell, and the -run-healthcheck flag.
	for _, probe := range [][]string{{"cat", "/tmp/.lock"}, {"/home/app/handler", "-run-healthcheck"}} {
		if out, err := podmanExec(c.Name, probe...); err != nil {
			t.Errorf("exec %v: %v\n%s", probe, err, out)
		}
	}
	if out, err := podmanExec(c.Name, "cat", "/tmp/no-such-file"); err == nil {
		t.Errorf("cat of a missing file succeeded: %s", out)
	}
	if logs := waitLogs(t, c, "call_id=e2e-call-42"); strings.Contains(logs, "secret=1") {
		t.Errorf("the query string reached the logs:\n%s", logs)
	}
	t.Logf("memory after a few calls: %d bytes", c.MemoryBytes(t))
}

func testMaxInflight(t *testing.T, image string) {
	c := container.Run(t, image, container.Env("max_inflight=1"))
	slow := goDo(t, http.MethodGet, c.URL("/sleep?ms=1500"))
	// The slot is taken once /_/ready says so.
	waitStatus(t, c.URL("/_/ready"), http.StatusTooManyRequests, 10*time.Second)

	res := do(t, http.MethodGet, c.URL("/"), "", nil)
	expect(t, res, http.StatusTooManyRequests, "Concurrent request limit exceeded. Max concurrent requests: 1\n")
	if got := res.Header.Get("X-OpenFaaS-Internal"); got != "faas-middleware" {
		t.Errorf("X-OpenFaaS-Internal = %q, want faas-middleware", got)
	}
	expect(t, do(t, http.MethodGet, c.URL("/_/ready"), "", nil), http.StatusTooManyRequests, "")
	expect(t, do(t, http.MethodGet, c.URL("/_/health"), "", nil), http.StatusOK, "OK")

	expect(t, <-slow, http.StatusOK, "slept")
	expect(t, do(t, http.MethodGet, c.URL("/_/ready"), "", nil), http.StatusOK, "")
}

func testExecTimeout(t *testing.T, image string) {
	c := container.Run(t, image, container.Env("exec_timeout=1s"))
	start := time.Now()
	res := do(t, http.MethodGet, c.URL("/sleep?ms=3000"), "", nil)
	took := time.Since(start)
	if res.status != http.StatusGatewayTimeout || res.Header.Get("X-OpenFaaS-Internal") == "" {
		t.Errorf("got %d (X-OpenFaaS-Internal %q), want 504 marked internal", res.status, res.Header.Get("X-OpenFaaS-Internal"))
	}
	if took < 900*time.Millisecond || took > 2500*time.Millisecond {
		t.Errorf("504 came after %s, want about exec_timeout (1s)", took)
	}
	expect(t, do(t, http.MethodPost, c.URL("/"), "still serving", nil), http.StatusOK, "still serving")
}

func testPanic(t *testing.T, image string) {
	c := container.Run(t, image, container.Env("max_inflight=1"))
	for range 3 {
		res := do(t, http.MethodGet, c.URL("/panic"), "", nil)
		if res.status != http.StatusInternalServerError {
			t.Fatalf("panic: got %d, want 500", res.status)
		}
	}
	// max_inflight=1: a leaked slot would make this a 429.
	expect(t, do(t, http.MethodPost, c.URL("/"), "alive", nil), http.StatusOK, "alive")
	expect(t, do(t, http.MethodGet, c.URL("/_/ready"), "", nil), http.StatusOK, "")
	waitLogs(t, c, "e2e probe panic")
}

func testHandlerError(t *testing.T, image string) {
	c := container.Run(t, image)
	res := do(t, http.MethodGet, c.URL("/error"), "", map[string]string{"X-Call-Id": "e2e-error-1"})
	if res.status != http.StatusInternalServerError {
		t.Errorf("a returned error gave %d, want 500", res.status)
	}
	waitLogs(t, c, "e2e probe error", "call_id=e2e-error-1")
}

func testStreaming(t *testing.T, image string) {
	c := container.Run(t, image)
	start := time.Now()
	res, err := container.Client.Get(c.URL("/stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	first := time.Since(start)
	if err != nil || line != "chunk 1\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	rest, _ := io.ReadAll(res.Body)
	total := time.Since(start)
	if first > total/2 {
		t.Errorf("first chunk after %s of %s: the stream was buffered", first, total)
	}
	if !strings.HasSuffix(string(rest), "chunk 3\n") {
		t.Errorf("stream ended with %q", rest)
	}
}

// testDrain sends SIGTERM with calls in flight: health turns 503 at once,
// every call completes, and the process exits 0.
func testDrain(t *testing.T, image string) {
	c := container.Run(t, image, container.Env("healthcheck_interval=1s"))
	var calls []<-chan response
	for range 4 {
		calls = append(calls, goDo(t, http.MethodGet, c.URL("/sleep?ms=2500")))
	}
	// The four calls are in flight once the watchdog counts them.
	for deadline := time.Now().Add(10 * time.Second); metricValue(t, c, "http_requests_in_flight") != 4; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("http_requests_in_flight never reached 4 before SIGTERM")
		}
	}
	c.Signal(t, "TERM")
	waitStatus(t, c.URL("/_/health"), http.StatusServiceUnavailable, 5*time.Second)
	out, err := podmanExec(c.Name, "cat", "/tmp/.lock")
	if err == nil || !strings.Contains(out, "no such file or directory") {
		t.Errorf("cat /tmp/.lock after SIGTERM: %v %q, want the lock file gone (cat: ...: no such file or directory)", err, out)
	}
	for i, call := range calls {
		if res := <-call; res.status != http.StatusOK {
			t.Errorf("call %d in flight at SIGTERM: %d %q, want 200", i, res.status, res.body)
		}
	}
	if code := c.Wait(t, 20*time.Second); code != 0 {
		t.Errorf("exit code %d after a clean drain, want 0\n%s", code, c.Logs())
	}
}

func testReadOnly(t *testing.T, image string) {
	// As faas-netes runs it with read_only_root_filesystem: a tmpfs at /tmp.
	c := container.Run(t, image, container.ReadOnly(), container.Tmpfs("/tmp"))
	expect(t, do(t, http.MethodPost, c.URL("/"), "ro", nil), http.StatusOK, "ro")

	// Without a writable /tmp the lock file can't be written: that must be
	// a non-zero exit with the reason, never a silent exit 0.
	bad := container.Run(t, image, container.ReadOnly(), container.Args("--read-only-tmpfs=false"), container.NoWait())
	if code := bad.Wait(t, 20*time.Second); code == 0 {
		t.Errorf("exit 0 with an unwritable /tmp, want non-zero")
	}
	if logs := bad.Logs(); !strings.Contains(logs, "lock file") {
		t.Errorf("no reason given for the failed start:\n%s", logs)
	}
}

func testBadConfig(t *testing.T, image string) {
	c := container.Run(t, image, container.Env("write_timeout=banana", "max_inflight=-1"), container.NoWait())
	if code := c.Wait(t, 20*time.Second); code != 2 {
		t.Errorf("exit code %d for bad configuration, want 2", code)
	}
	logs := c.Logs()
	for _, want := range []string{
		`write_timeout="banana": want seconds (e.g. 10) or a Go duration (e.g. 10s)`,
		`max_inflight="-1"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

type response struct {
	status int
	body   string
	Header http.Header
}

func do(t *testing.T, method, url, body string, headers map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := container.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{status: res.StatusCode, body: string(b), Header: res.Header}
}

// goDo makes a call in the background; its response arrives on the channel
// (status 0 and the error text as body if the call failed).
func goDo(t *testing.T, method, url string) <-chan response {
	ch := make(chan response, 1)
	go func() {
		req, _ := http.NewRequest(method, url, nil)
		res, err := container.Client.Do(req)
		if err != nil {
			ch <- response{body: err.Error()}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		ch <- response{status: res.StatusCode, body: string(b), Header: res.Header}
	}()
	return ch
}

// waitFor200 polls url until it answers 200, failing t after timeout, or
// as soon as exited (nil: never asked) says the process behind it is gone,
// with the output it returns.
func waitFor200(t *testing.T, url string, timeout time.Duration, exited func() (bool, string)) {
	t.Helper()
	gone := func() error {
		if exited == nil {
			return nil
		}
		if ended, out := exited(); ended {
			return fmt.Errorf("%s: exited before answering 200:\n%s", url, out)
		}
		return nil
	}
	if err := wait.Healthy(context.Background(), container.Client, url, timeout, 50*time.Millisecond, gone); err != nil {
		t.Fatal(err)
	}
}

// waitStatus polls url until it answers status, failing t after timeout.
func waitStatus(t *testing.T, url string, status int, timeout time.Duration) {
	t.Helper()
	last := 0
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if last = do(t, http.MethodGet, url, "", nil).status; last == status {
			return
		}
	}
	t.Fatalf("%s: %d, want %d within %s", url, last, status, timeout)
}

// metricValue reads one unlabelled series from the container's metrics;
// a series that is missing fails t, so a rename can't pass as 0.
func metricValue(t *testing.T, c *container.Container, name string) float64 {
	t.Helper()
	body := do(t, http.MethodGet, c.MetricsURL("/metrics"), "", nil).body
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %q is not a number", name, v)
			}
			return f
		}
	}
	t.Fatalf("no series %s in the metrics:\n%s", name, body)
	return 0
}

func expect(t *testing.T, res response, status int, body string) {
	t.Helper()
	if res.status != status || (body != "" && res.body != body) {
		t.Errorf("got %d %q, want %d %q", res.status, res.body, status, body)
	}
}

// waitLogs waits up to 2s for the container's logs to hold every want (the
// watchdog writes a batch of log lines 100ms after its first) and returns the logs.
func waitLogs(t *testing.T, c *container.Container, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		logs := c.Logs()
		missing := ""
		for _, w := range want {
			if !strings.Contains(logs, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return logs
		}
		if time.Now().After(deadline) {
			t.Errorf("logs lack %q:\n%s", missing, logs)
			return logs
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func podmanExec(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "podman", append([]string{"--runtime", "runc", "exec", name}, args...)...).CombinedOutput()
	return string(out), err
}
