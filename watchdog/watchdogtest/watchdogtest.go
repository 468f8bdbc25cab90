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
	"github.com/inproc-go/templates/watchdog/internal/hooks"
)

// Server is a function served by the watchdog on 127.0.0.1.
type Server struct {
	URL        string // the function, e.g. URL + "/" to invoke it
	MetricsURL string // the metrics listener; MetricsURL + "/metrics"
	logs       *syncBuffer

	stop     context.CancelFunc
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

// New serves h with the watchdog configured by env ("name=value", as the
// function's environment would be) until the test ends; the lock file lives
// in a temporary directory. Like Main, it runs the hooks the function package
// registered with watchdog.OnStart, OnReady and OnShutdown: New returns once
// the start hooks are done and /_/health answers 200, and the shutdown hooks
// run at Close or when the test ends. It serves the series registered with
// watchdog.RegisterMetrics or prommetrics.Register on MetricsURL. The test
// fails if the configuration is refused (a metric name that is the
// watchdog's included), a start hook fails, or the server does not shut
// down cleanly.
func New(t testing.TB, h http.Handler, env ...string) *Server {
	t.Helper()
	return NewWith(t, h, Options{Env: env})
}

// Options are what NewWith serves with.
type Options struct {
	// Env is the function's environment, "name=value", as New's env.
	Env []string
	// Watchdog options are applied after watchdogtest's own (configuration,
	// listeners, logger), e.g. watchdog.WithStart or watchdog.WithReadiness
	// for hooks a test supplies itself.
	Watchdog []watchdog.Option
	// SkipRegistered leaves out the hooks registered with watchdog.OnStart,
	// OnReady and OnShutdown, and the registered metrics, for a test that
	// supplies its own instead.
	SkipRegistered bool
}

// NewWith is New with Options.
func NewWith(t testing.TB, h http.Handler, o Options) *Server {
	t.Helper()
	env := o.Env
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
	opts := []watchdog.Option{
		watchdog.WithConfig(cfg),
		watchdog.WithListeners(fn, metrics),
		watchdog.WithLogger(slog.New(slog.NewTextHandler(logs, nil))),
	}
	if !o.SkipRegistered {
		opts = append(opts, registered()...)
	}
	opts = append(opts, o.Watchdog...)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{URL: "http://" + fn.Addr().String(), MetricsURL: "http://" + metrics.Addr().String(), logs: logs,
		stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- watchdog.Serve(ctx, h, opts...) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("watchdogtest: shutdown: %v", err)
		}
	})
	s.waitHealthy(t, cfg.StartTimeout+5*time.Second)
	return s
}

// registered is what the function package registered, as Options.
func registered() []watchdog.Option {
	set := hooks.Snapshot()
	var opts []watchdog.Option
	for _, f := range set.Start {
		opts = append(opts, watchdog.WithStart(f))
	}
	for _, f := range set.Ready {
		opts = append(opts, watchdog.WithReadiness(f))
	}
	for _, f := range set.Shutdown {
		opts = append(opts, watchdog.WithShutdown(f))
	}
	for _, m := range set.Metrics {
		opts = append(opts, watchdog.WithMetrics(m))
	}
	return opts
}

// Close drains the server as SIGTERM would, runs its shutdown hooks and
// returns what Serve returned; later calls return the same. A test calls it
// to check what its cleanup did; otherwise the test's end does.
func (s *Server) Close() error {
	s.stopOnce.Do(func() {
		s.stop()
		s.stopErr = <-s.done
	})
	return s.stopErr
}

// Logs returns what the watchdog and the function logged so far.
func (s *Server) Logs() string { return s.logs.String() }

func (s *Server) waitHealthy(t testing.TB, timeout time.Duration) {
	t.Helper()
	// A probe without an answer gives up: when New refuses the options,
	// nothing serves the listeners, which still accept.
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.stopOnce.Do(func() { s.stop() }) // reported here, not again at Close
			t.Fatalf("watchdogtest: server stopped at start: %v", err)
		default:
		}
		res, err := client.Get(s.URL + "/_/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("watchdogtest: /_/health not 200 within %s", timeout)
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
