// Package watchdogtest runs a function behind the real in-process watchdog in
// a test, so the test sees what callers see: health, limits, timeouts, call
// ids and logs, not just a bare ResponseRecorder.
package watchdogtest

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog"
)

// Server is a function served by the watchdog on 127.0.0.1.
type Server struct {
	URL        string // the function, e.g. URL + "/" to invoke it
	MetricsURL string // the metrics listener; MetricsURL + "/metrics"
	logs       *syncBuffer
}

// New serves h with the watchdog configured by env ("name=value", as the
// function's environment would be) until the test ends; the lock file lives
// in a temporary directory. The test fails if the configuration is refused
// or the server does not shut down cleanly.
func New(t testing.TB, h http.Handler, env ...string) *Server {
	t.Helper()
	cfg, err := watchdog.ConfigFromEnv(env)
	if err != nil {
		t.Fatalf("watchdogtest: %v", err)
	}
	cfg.LockFile = filepath.Join(t.TempDir(), ".lock")
	if !setsVar(env, "healthcheck_interval") {
		// No endpoints to wait for in a test: drain at once.
		cfg.HealthcheckInterval = time.Millisecond
	}
	fn, metrics := listen(t), listen(t)
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- watchdog.Serve(ctx, h,
			watchdog.WithConfig(cfg),
			watchdog.WithListeners(fn, metrics),
			watchdog.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	}()
	s := &Server{URL: "http://" + fn.Addr().String(), MetricsURL: "http://" + metrics.Addr().String(), logs: logs}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watchdogtest: shutdown: %v", err)
		}
	})
	s.waitHealthy(t, done)
	return s
}

// Logs returns what the watchdog and the function logged so far.
func (s *Server) Logs() string { return s.logs.String() }

func (s *Server) waitHealthy(t testing.TB, done chan error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("watchdogtest: server stopped at start: %v", err)
		default:
		}
		res, err := http.Get(s.URL + "/_/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("watchdogtest: /_/health not 200 within 5s")
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("watchdogtest: %v", err)
	}
	return ln
}

func setsVar(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

// syncBuffer is a bytes.Buffer safe for the server's and the test's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
