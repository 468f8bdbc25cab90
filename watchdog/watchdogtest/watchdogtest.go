// Package watchdogtest runs a function behind the real in-process watchdog in
// a test, so the test sees what callers see: health, limits, timeouts, call
// ids, metrics and logs, not just a bare ResponseRecorder.
package watchdogtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/internal/hooks"
	"github.com/inproc-go/templates/watchdog/internal/settings"
	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// Server is a function served by the watchdog on 127.0.0.1.
type Server struct {
	URL        string // the function, e.g. URL + "/" to invoke it
	Addr       string // the function's host:port, for a raw connection
	MetricsURL string // the metrics listener; MetricsURL + "/metrics"
	// Client keeps connections alive, up to 64 to the function, asks for
	// no compression, so a test sees the answer as the handler wrote it,
	// and gives up on a call after 30 seconds. Its idle connections are
	// closed at Close.
	Client *http.Client
	logs   *testkit.Buffer

	stop     context.CancelFunc
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

// New serves h with the watchdog configured by env: the watchdog's
// settings, "name=value" as the function's environment would carry them
// (exec_timeout, max_inflight, log_format, secret_mount_path, ...). They win
// over the process environment for everything the function reads through
// the watchdog package while this server runs it: watchdog.Secret reads
// secret_mount_path's folder, watchdog.Logger logs to Logs in log_format,
// in calls and hooks alike, and parallel tests each see their own. Any
// other name fails the test: the function's own variables (os.Getenv) are
// the process's, which a test sets with t.Setenv. The lock file lives in a
// temporary directory.
//
// Like Main, New runs the hooks the function package registered with
// watchdog.OnStart, OnReady and OnShutdown: it returns once the start hooks
// are done and /_/health answers 200, and the shutdown hooks run at Close or
// when the test ends. It serves the series registered with
// watchdog.RegisterMetrics or prommetrics.Register on MetricsURL. The test
// fails if the configuration is refused (a metric name that is the
// watchdog's included), a start hook fails, or the server does not shut
// down cleanly. The logs are text, or JSON with log_format=json in env.
func New(t testing.TB, h http.Handler, env ...string) *Server {
	t.Helper()
	return NewWith(t, h, Options{Env: env})
}

// Options are what NewWith serves with.
type Options struct {
	// Env is the watchdog's settings, "name=value", as New's env.
	Env []string
	// Secrets are the function's secrets, name to content, as the platform
	// would mount them: watchdog.Secret(ctx, name) returns the content (less
	// one trailing newline, as for a file). Without them, Secret reads
	// secret_mount_path from Env, else /var/openfaas/secrets; a test sets
	// one or the other, not both.
	Secrets map[string]string
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
	for _, kv := range env {
		name, _, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("watchdogtest: %q: want name=value, e.g. exec_timeout=2s", kv)
		}
		if !settings.Known(name) {
			t.Fatalf("watchdogtest: %q: %s is not a watchdog setting (those are %s); the function's own environment is the process's: set it with t.Setenv(%q, ...)",
				kv, name, settings.List(), name)
		}
	}
	cfg, err := watchdog.ConfigFromEnv(env)
	if err != nil {
		t.Fatalf("watchdogtest: %v", err)
	}
	if o.Secrets != nil {
		if setsVar(env, watchdog.SecretsDirEnv) {
			t.Fatalf("watchdogtest: both Options.Secrets and %s given: want one source of secrets", watchdog.SecretsDirEnv)
		}
		cfg.SecretsDir = writeSecrets(t, o.Secrets)
	}
	cfg.LockFile = filepath.Join(t.TempDir(), ".lock")
	if !setsVar(env, "healthcheck_interval") {
		// No endpoints to wait for in a test: drain at once.
		cfg.HealthcheckInterval = time.Millisecond
	}
	fn, metrics := testkit.Listen(t), testkit.Listen(t)
	logs := &testkit.Buffer{}
	var handler slog.Handler = slog.NewTextHandler(logs, nil)
	if cfg.LogFormat == "json" {
		handler = slog.NewJSONHandler(logs, nil)
	}
	opts := []watchdog.Option{
		watchdog.WithConfig(cfg),
		watchdog.WithListeners(fn, metrics),
		watchdog.WithLogger(slog.New(handler)),
	}
	if !o.SkipRegistered {
		opts = append(opts, registered()...)
	}
	opts = append(opts, o.Watchdog...)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		URL:        "http://" + fn.Addr().String(),
		Addr:       fn.Addr().String(),
		MetricsURL: "http://" + metrics.Addr().String(),
		Client: &http.Client{
			Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
			Timeout:   30 * time.Second,
		},
		logs: logs, stop: cancel, done: make(chan error, 1),
	}
	go func() { s.done <- watchdog.Serve(ctx, h, opts...) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			hint := ""
			if strings.Contains(err.Error(), "were cut off") {
				hint = " (the test's end drains the server as SIGTERM would: a handler still running after write_timeout, such as one that goes on past its 504 at exec_timeout, is cut off; return when r.Context() is done)"
			}
			t.Errorf("watchdogtest: draining the server at the test's end: %v%s", err, hint)
		}
	})
	s.waitHealthy(t, cfg.StartTimeout+5*time.Second)
	return s
}

// writeSecrets lays secrets out in a temporary folder as the platform
// mounts them, one file each, and returns the folder.
func writeSecrets(t testing.TB, secrets map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range secrets {
		// The folder is empty: Read reports a name it refuses, in its own
		// words, and any other name as not there yet.
		if _, err := (watchdog.Secrets{Dir: dir}).Read(name); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("watchdogtest: Options.Secrets: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatalf("watchdogtest: Options.Secrets: %v", err)
		}
	}
	return dir
}

// registered is what the function package registered, as Options.
func registered() []watchdog.Option {
	return hooks.Options(hooks.Snapshot(), watchdog.WithStart, watchdog.WithReadiness, watchdog.WithShutdown,
		func(m hooks.Metrics) watchdog.Option { return watchdog.WithMetrics(m) })
}

// Close drains the server as SIGTERM would, runs its shutdown hooks and
// returns what Serve returned; later calls return the same. A test calls it
// to check what its cleanup did; otherwise the test's end does.
func (s *Server) Close() error {
	s.stopOnce.Do(func() {
		s.Client.CloseIdleConnections()
		s.stop()
		s.stopErr = <-s.done
	})
	return s.stopErr
}

// Logs returns what the watchdog and the function logged so far.
func (s *Server) Logs() string { return s.logs.String() }

// LogRecords parses what was logged so far, one record a line; it needs
// log_format=json, and a line that is not a JSON object fails the test.
func (s *Server) LogRecords(t testing.TB) []map[string]any {
	t.Helper()
	return testkit.Records(t, s.Logs())
}

// WaitLog waits until a record match accepts is logged and returns it; the
// access log line of a call is written just after its answer. It needs
// log_format=json, and fails the test, naming what, if no such record is
// logged within 10 seconds.
func (s *Server) WaitLog(t testing.TB, what string, match func(record map[string]any) bool) map[string]any {
	t.Helper()
	var found map[string]any
	testkit.WaitFor(t, 10*time.Second, "watchdogtest: a log record "+what, func() bool {
		for _, r := range s.LogRecords(t) {
			if match(r) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// Do sends a request to path on the function with Client and reads the
// whole answer. err is the request's or the read's error, with status 0
// when no answer came; it does not fail the test, so callers on other
// goroutines can count errors.
func (s *Server) Do(method, path string, body io.Reader, header http.Header) (status int, answer string, err error) {
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		return 0, "", err
	}
	for name, values := range header {
		req.Header[name] = values
	}
	res, err := s.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// Metric is the value of the series named exactly series on MetricsURL,
// e.g. `http_requests_total{code="200",method="get"}`. A series that is not
// exposed fails the test: a renamed one can't pass as 0.
func (s *Server) Metric(t testing.TB, series string) float64 {
	t.Helper()
	scrape := s.scrape(t)
	v, ok := lookupMetric(t, scrape, series)
	if !ok {
		t.Fatalf("watchdogtest: no series %s in the scrape%s", series, sameName(scrape, series))
	}
	return v
}

// sameName lists, for a failure message, the series scrape exposes under
// series' metric name: a series is matched as the scrape writes it, labels
// in its order.
func sameName(scrape, series string) string {
	name, _, _ := strings.Cut(series, "{")
	var found []string
	for line := range strings.SplitSeq(scrape, "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			found = append(found, line)
		}
	}
	if len(found) == 0 {
		return ""
	}
	return "; of that name (labels are matched as written): " + strings.Join(found, ", ")
}

// LookupMetric is series' value and whether it is exposed at all, for a
// test that checks a series is absent. A failed scrape fails the test.
func (s *Server) LookupMetric(t testing.TB, series string) (float64, bool) {
	t.Helper()
	return lookupMetric(t, s.scrape(t), series)
}

// lookupMetric is LookupMetric in a scrape already made.
func lookupMetric(t testing.TB, scrape, series string) (float64, bool) {
	t.Helper()
	v, ok, err := testkit.MetricValue(scrape, series)
	if err != nil {
		t.Fatalf("watchdogtest: series %s: %v", series, err)
	}
	return v, ok
}

// WaitMetric waits until series is exposed with the value want, and fails
// the test if it is not within 10 seconds.
func (s *Server) WaitMetric(t testing.TB, series string, want float64) {
	t.Helper()
	var got float64
	var ok bool
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, ok = s.LookupMetric(t, series); ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("watchdogtest: %s = %g (exposed: %t) after 10s, want %g", series, got, ok, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *Server) scrape(t testing.TB) string {
	t.Helper()
	res, err := s.Client.Get(s.MetricsURL + "/metrics")
	if err != nil {
		t.Fatalf("watchdogtest: scrape: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %.200s", res.Status, b)
	}
	if err != nil {
		t.Fatalf("watchdogtest: scrape: %v", err)
	}
	return string(b)
}

func (s *Server) waitHealthy(t testing.TB, timeout time.Duration) {
	t.Helper()
	err := testkit.WaitHealthy(s.URL, timeout, func() error {
		select {
		case err := <-s.done:
			s.stopOnce.Do(func() { s.stop() }) // reported here, not again at Close
			return fmt.Errorf("server stopped at start: %w", err)
		default:
			return nil
		}
	})
	if errors.Is(err, testkit.ErrNotHealthy) {
		t.Fatalf("watchdogtest: /_/health not 200 within %s", timeout)
	}
	if err != nil {
		t.Fatalf("watchdogtest: %v", err)
	}
}

func setsVar(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}
