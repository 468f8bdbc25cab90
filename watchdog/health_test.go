package watchdog

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

func TestProbeEndpoints(t *testing.T) {
	ts := startServer(t, testConfig(t), okHandler)
	tests := []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/_/health", 200, "OK"},
		{"POST", "/_/health", 405, ""},
		{"HEAD", "/_/health", 405, ""},
		{"PUT", "/_/health", 405, ""},
		{"GET", "/_/ready", 200, ""},
		{"POST", "/_/ready", 405, ""},
		{"HEAD", "/_/ready", 405, ""},
		{"GET", "/_/health/", 200, "ok"}, // not a probe: the function's
		{"GET", "/", 200, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res, body := ts.do(ts.request(tt.method, tt.path, nil))
			if res.StatusCode != tt.code || body != tt.body {
				t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, res.StatusCode, body, tt.code, tt.body)
			}
			if tt.code == 405 && res.Header.Get("Allow") != "GET" {
				t.Errorf("405 without Allow: GET (got %q)", res.Header.Get("Allow"))
			}
		})
	}
}

// Before Serve has written the lock file the probes fail, even though the
// handler chain is built.
func TestProbesBeforeServing(t *testing.T) {
	ts := newTestServer(t, testConfig(t), okHandler)
	for _, path := range []string{"/_/health", "/_/ready"} {
		rec := httptest.NewRecorder()
		ts.srv.fnServer.Handler.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s before Serve = %d, want 503", path, rec.Code)
		}
	}
	if _, err := os.Stat(ts.srv.cfg.LockFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file before Serve: %v, want it absent", err)
	}
}

func TestLockFile(t *testing.T) {
	cfg := testConfig(t)
	ts := startServer(t, cfg, okHandler)
	info, err := os.Stat(cfg.LockFile)
	if err != nil {
		t.Fatalf("lock file while serving: %v", err)
	}
	if perm := info.Mode().Perm(); perm&0o044 != 0o044 {
		t.Errorf("lock file mode %v: want it readable by group and others", perm)
	}
	if err := checkLockFile(cfg.LockFile); err != nil {
		t.Errorf("checkLockFile while serving: %v", err)
	}

	// Deleting the lock file fails the exec probe and the HTTP probes alike.
	if err := os.Remove(cfg.LockFile); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/_/health", "/_/ready"} {
		if code, _ := ts.status("GET", path); code != http.StatusServiceUnavailable {
			t.Errorf("%s without lock file = %d, want 503", path, code)
		}
	}
	if err := checkLockFile(cfg.LockFile); err == nil {
		t.Error("checkLockFile without lock file: nil")
	}
	// calls are still served
	if code, body := ts.status("GET", "/"); code != 200 || body != "ok" {
		t.Errorf("call without lock file = %d %q", code, body)
	}
	if err := os.WriteFile(cfg.LockFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _ := ts.status("GET", "/_/health"); code != http.StatusOK {
		t.Errorf("health with lock file back = %d, want 200", code)
	}

	if err := ts.stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := os.Stat(cfg.LockFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file after Serve: %v, want it removed", err)
	}
}

func TestSuppressLock(t *testing.T) {
	cfg := testConfig(t)
	cfg.SuppressLock = true
	ts := startServer(t, cfg, okHandler)
	if code, body := ts.status("GET", "/_/health"); code != 200 || body != "OK" {
		t.Errorf("health with suppress_lock = %d %q, want 200 OK", code, body)
	}
	if _, err := os.Stat(cfg.LockFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("suppress_lock wrote %s (stat: %v)", cfg.LockFile, err)
	}
	if err := ts.stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestReadyMaxInflight(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxInflight = 2
	b := newBlocker(t)
	ts := startServer(t, cfg, b)

	first := ts.asyncGet("/")
	b.waitEntered(t)
	if code, _ := ts.status("GET", "/_/ready"); code != http.StatusOK {
		t.Errorf("ready with 1 of 2 in flight = %d, want 200", code)
	}
	second := ts.asyncGet("/")
	b.waitEntered(t)
	if code, _ := ts.status("GET", "/_/ready"); code != http.StatusTooManyRequests {
		t.Errorf("ready with 2 of 2 in flight = %d, want 429", code)
	}
	if code, _ := ts.status("GET", "/_/health"); code != http.StatusOK {
		t.Errorf("health with 2 of 2 in flight = %d, want 200 (liveness ignores the limit)", code)
	}
	b.open()
	for _, ch := range []<-chan result{first, second} {
		if r := wait(t, ch); r.err != nil || r.code != 200 {
			t.Errorf("call: %d %v", r.code, r.err)
		}
	}
	if code, _ := ts.status("GET", "/_/ready"); code != http.StatusOK {
		t.Errorf("ready after the calls = %d, want 200", code)
	}
}

func TestReadyPath(t *testing.T) {
	var ready atomic.Bool
	type seen struct {
		method, path, rawQuery, requestURI, callID string
		body                                       string
	}
	probes := make(chan seen, 10)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" {
			io.WriteString(w, "function")
			return
		}
		b, _ := io.ReadAll(r.Body)
		probes <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.RequestURI, r.Header.Get(CallIDHeader), string(b)}
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "warming up")
			return
		}
		io.WriteString(w, "ready")
	})
	cfg := testConfig(t)
	cfg.ReadyPath = "/ready"
	ts := startServer(t, cfg, h)

	res, body := ts.get("/_/ready?token=secret")
	if res.StatusCode != http.StatusServiceUnavailable || body != "warming up" {
		t.Errorf("ready while the handler is not = %d %q, want 503 %q", res.StatusCode, body, "warming up")
	}
	p := <-probes
	if p.method != "GET" || p.path != "/ready" || p.rawQuery != "" || p.requestURI != "/ready" || p.body != "" {
		t.Errorf("the handler saw %+v, want GET /ready without query or body", p)
	}
	if p.callID == "" {
		t.Error("the ready probe carries no call id")
	}

	ready.Store(true)
	if res, body := ts.get("/_/ready"); res.StatusCode != 200 || body != "ready" {
		t.Errorf("ready = %d %q, want 200 ready", res.StatusCode, body)
	}
	<-probes

	// Probes are neither counted nor logged as calls.
	if ts.hasSeries(`http_requests_total{code="200",method="get"}`) {
		t.Errorf("ready probes counted as calls: %v", ts.metric(`http_requests_total{code="200",method="get"}`))
	}
	if calls := ts.logs.withMsg(t, "call"); len(calls) != 0 {
		t.Errorf("ready probes logged as calls: %v", calls)
	}
	// The ready path is an ordinary path for callers.
	if res, body := ts.get("/ready"); res.StatusCode != 200 || body != "ready" {
		t.Errorf("GET /ready = %d %q", res.StatusCode, body)
	}
	<-probes
}

func TestLockFileUnwritable(t *testing.T) {
	cfg := testConfig(t)
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.LockFile = filepath.Join(notADir, ".lock") // a file's child: fails even as root
	ts := newTestServer(t, cfg, okHandler)

	// Probe as fast as possible while Serve starts and fails.
	stop := make(chan struct{})
	var healthy atomic.Bool
	probing := make(chan struct{})
	go func() {
		defer close(probing)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if code, _ := ts.status("GET", "/_/health"); code == 200 {
				healthy.Store(true)
			}
		}
	}()
	err := ts.srv.Serve(t.Context())
	close(stop)
	<-probing
	if err == nil || !strings.Contains(err.Error(), "lock file") {
		t.Fatalf("Serve with an unwritable lock file = %v, want a lock file error", err)
	}
	if healthy.Load() {
		t.Error("health answered 200 although the lock file could not be written")
	}
	rec := httptest.NewRecorder()
	ts.srv.fnServer.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/_/health", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("health after the failed start = %d, want 503", rec.Code)
	}
	// Both listeners are closed.
	for _, u := range []string{ts.url, ts.metricsURL} {
		if res, err := ts.client.Get(u); err == nil {
			res.Body.Close()
			t.Errorf("%s still answers after the failed start", u)
		}
	}
}

// Serve binds ":port": a port another socket listens on, even on 127.0.0.1
// only, makes that bind fail with EADDRINUSE, so no wildcard socket is opened.
func TestPortInUse(t *testing.T) {
	busy := testkit.Listen(t)
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	t.Run("function port", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Port = busyPort
		logger, _ := newTestLogger()
		s, err := New(okHandler, WithConfig(cfg), WithLogger(logger))
		if err != nil {
			t.Fatal(err)
		}
		err = serveBriefly(t, s)
		if err == nil || !strings.Contains(err.Error(), "function port") || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("Serve on a busy port = %v, want a function port error", err)
		}
		if _, err := os.Stat(cfg.LockFile); err == nil {
			t.Error("lock file written although the port was busy")
		}
	})
	t.Run("metrics port", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.MetricsPort = busyPort
		logger, _ := newTestLogger()
		fn := testkit.Listen(t)
		s, err := New(okHandler, WithConfig(cfg), WithLogger(logger), WithListeners(fn, nil))
		if err != nil {
			t.Fatal(err)
		}
		err = serveBriefly(t, s)
		if err == nil || !strings.Contains(err.Error(), "metrics port") || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("Serve on a busy metrics port = %v, want a metrics port error", err)
		}
		if c, err := net.Dial("tcp", fn.Addr().String()); err == nil {
			c.Close()
			t.Error("function listener left open after the metrics port failed")
		}
	})
}

// serveBriefly runs s.Serve, which is expected to fail at once; if it does not
// it is stopped after a second.
func serveBriefly(t *testing.T, s *Server) error {
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(200 * time.Millisecond):
		cancel()
		<-done
		t.Fatal("Serve did not fail at once")
		return nil
	}
}

func TestCheckLockFile(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, ".lock")
	if err := os.WriteFile(present, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkLockFile(present); err != nil {
		t.Errorf("checkLockFile(present) = %v", err)
	}
	err := checkLockFile(filepath.Join(dir, "missing"))
	if err == nil || !strings.HasPrefix(err.Error(), "not healthy: ") {
		t.Errorf("checkLockFile(missing) = %v, want not healthy", err)
	}
	if err := removeLockFile(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("removing a missing lock file: %v", err)
	}
}

// listen_address is the host both listeners bind: 127.0.0.1 keeps a local
// run off the machine's other addresses; unset binds every interface.
func TestListenAddress(t *testing.T) {
	for _, tt := range []struct {
		address, wantHost string
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"::1", "::1"},
		{"", "::"},
	} {
		t.Run(tt.address, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ListenAddress, cfg.Port, cfg.MetricsPort = tt.address, 0, 0
			logger, buf := newTestLogger()
			s, err := New(okHandler, WithConfig(cfg), WithLogger(logger))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx) }()
			defer func() { cancel(); <-done }()
			testkit.WaitFor(t, 10*time.Second, "the serving line", func() bool { return len(buf.withMsg(t, "serving")) > 0 })
			line := buf.withMsg(t, "serving")[0]
			for _, key := range []string{"function", "metrics"} {
				addr, _ := line[key].(string)
				host, _, err := net.SplitHostPort(addr)
				if err != nil || host != tt.wantHost {
					t.Errorf("listen_address=%q: %s listener on %q, want host %s", tt.address, key, addr, tt.wantHost)
				}
			}
		})
	}
}
