package watchdog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// logBuffer collects a logger's JSON lines; it is safe for concurrent use.
// The package's own tests can't import watchdogtest (it imports this
// package), so these helpers stand on internal/testkit as watchdogtest does.
type logBuffer struct{ testkit.Buffer }

// records parses every line; a line that isn't one JSON object fails the test.
func (b *logBuffer) records(t testing.TB) []map[string]any {
	t.Helper()
	return testkit.Records(t, b.String())
}

// withMsg returns the records whose msg is msg.
func (b *logBuffer) withMsg(t testing.TB, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range b.records(t) {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// newTestLogger is a JSON logger into a buffer, for WithLogger.
func newTestLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// testConfig is DefaultConfig with short drains and a lock file of the test's
// own, so nothing touches /tmp/.lock.
func testConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.ExecTimeout = 5 * time.Second
	cfg.ReadTimeout = 6 * time.Second
	cfg.WriteTimeout = 6 * time.Second
	cfg.HealthcheckInterval = 20 * time.Millisecond
	cfg.LockFile = filepath.Join(t.TempDir(), ".lock")
	return cfg
}

// testServer is a Server serving on 127.0.0.1:0 for one test.
type testServer struct {
	t          testing.TB
	srv        *Server
	url        string // the function listener, http://127.0.0.1:port
	metricsURL string
	logs       *logBuffer
	client     *http.Client
	cancel     context.CancelFunc
	done       chan error

	stopOnce sync.Once
	stopErr  error
}

// newTestServer builds a Server for h with cfg, local listeners and a log
// buffer, without serving yet. Later opts override the defaults.
func newTestServer(t testing.TB, cfg Config, h http.Handler, opts ...Option) *testServer {
	t.Helper()
	logger, logs := newTestLogger()
	fn, metrics := testkit.Listen(t), testkit.Listen(t)
	all := append([]Option{WithConfig(cfg), WithLogger(logger), WithListeners(fn, metrics)}, opts...)
	srv, err := New(h, all...)
	if err != nil {
		fn.Close()
		metrics.Close()
		t.Fatalf("New: %v", err)
	}
	tr := &http.Transport{DisableCompression: true}
	ts := &testServer{
		t:          t,
		srv:        srv,
		url:        "http://" + fn.Addr().String(),
		metricsURL: "http://" + metrics.Addr().String() + "/metrics",
		logs:       logs,
		client:     &http.Client{Transport: tr},
		done:       make(chan error, 1),
	}
	t.Cleanup(tr.CloseIdleConnections)
	return ts
}

// serve starts Serve and waits until /_/health answers 200.
func (ts *testServer) serve() *testServer {
	ts.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- ts.srv.Serve(ctx) }()
	ts.t.Cleanup(func() { ts.stop() })
	err := testkit.WaitHealthy(ts.url, 5*time.Second, func() error {
		select {
		case err := <-ts.done:
			ts.done <- err
			return fmt.Errorf("Serve returned early: %v", err)
		default:
			return nil
		}
	})
	if err != nil {
		ts.t.Fatal(err)
	}
	return ts
}

// startServer is newTestServer and serve.
func startServer(t testing.TB, cfg Config, h http.Handler, opts ...Option) *testServer {
	t.Helper()
	return newTestServer(t, cfg, h, opts...).serve()
}

// stop cancels Serve's context and returns what Serve returned.
func (ts *testServer) stop() error {
	ts.stopOnce.Do(func() {
		ts.cancel()
		select {
		case ts.stopErr = <-ts.done:
		case <-time.After(30 * time.Second):
			ts.t.Errorf("Serve did not return within 30s of cancel")
		}
	})
	return ts.stopErr
}

// do sends a request and reads the whole answer.
func (ts *testServer) do(req *http.Request) (*http.Response, string) {
	ts.t.Helper()
	res, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		ts.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return res, string(body)
}

func (ts *testServer) request(method, path string, body io.Reader, header ...string) *http.Request {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.url+path, body)
	if err != nil {
		ts.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

// get is a GET of path with optional header name, value pairs.
func (ts *testServer) get(path string, header ...string) (*http.Response, string) {
	ts.t.Helper()
	return ts.do(ts.request("GET", path, nil, header...))
}

// status is the status code of method path, or 0 if the request failed.
func (ts *testServer) status(method, path string) (int, string) {
	req, err := http.NewRequest(method, ts.url+path, nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	res, err := ts.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (ts *testServer) metrics() string {
	ts.t.Helper()
	res, err := ts.client.Get(ts.metricsURL)
	if err != nil {
		ts.t.Fatalf("metrics: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		ts.t.Fatalf("metrics: %s\n%s", res.Status, b)
	}
	return string(b)
}

// metricIn is the value of the series named exactly series (name and
// labels) in a scrape; a series that is not there fails the test, so a
// renamed or missing one can't read as 0.
func metricIn(t testing.TB, scrape, series string) float64 {
	t.Helper()
	v, ok, err := testkit.MetricValue(scrape, series)
	if err != nil || !ok {
		t.Fatalf("series %s: not in the scrape (error: %v)", series, err)
	}
	return v
}

// metric is the value of series; a series not exposed fails the test, so a
// renamed or missing one can't read as 0.
func (ts *testServer) metric(series string) float64 {
	ts.t.Helper()
	return metricIn(ts.t, ts.metrics(), series)
}

// hasSeries reports whether series is exposed at all.
func (ts *testServer) hasSeries(series string) bool {
	ts.t.Helper()
	_, ok, err := testkit.MetricValue(ts.metrics(), series)
	if err != nil {
		ts.t.Fatalf("series %s: %v", series, err)
	}
	return ok
}

// blocker is a handler that blocks until released, ignoring its context.
type blocker struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBlocker(t testing.TB) *blocker {
	b := &blocker{entered: make(chan struct{}, 100), release: make(chan struct{})}
	t.Cleanup(b.open)
	return b
}

func (b *blocker) open() { b.once.Do(func() { close(b.release) }) }

func (b *blocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.entered <- struct{}{}
	<-b.release
	_, _ = io.WriteString(w, "done")
}

func (b *blocker) waitEntered(t testing.TB) {
	t.Helper()
	select {
	case <-b.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("handler not called within 5s")
	}
}

// asyncGet starts a GET and returns a channel with its status and body.
type result struct {
	code int
	body string
	hdr  http.Header
	err  error
}

func (ts *testServer) asyncGet(path string, header ...string) <-chan result {
	req := ts.request("GET", path, nil, header...)
	ch := make(chan result, 1)
	go func() {
		res, err := ts.client.Do(req)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		ch <- result{code: res.StatusCode, body: string(b), hdr: res.Header, err: err}
	}()
	return ch
}

func wait(t testing.TB, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10s")
		return result{}
	}
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "ok")
})

// newRecorder is a recorder on its own, as withCall makes one inside a call.
func newRecorder(w http.ResponseWriter, streamWriteTimeout time.Duration) *recorder {
	return &recorder{ResponseWriter: w, start: time.Now(), streamWriteTimeout: streamWriteTimeout}
}
