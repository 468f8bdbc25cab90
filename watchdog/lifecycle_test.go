package watchdog

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// startServing runs Serve in the background without waiting for health, for
// tests that watch the start itself.
func (ts *testServer) startServing() {
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- ts.srv.Serve(ctx) }()
	ts.t.Cleanup(func() { ts.stop() })
}

// A start hook runs before anything reports healthy: while it runs, health
// and ready answer 503, calls are refused with 503 (logged and counted as
// any call), and there is no lock file; once it returns, all three turn.
func TestStartHookRunsBeforeHealthy(t *testing.T) {
	cfg := testConfig(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		okHandler(w, r)
	})
	var gotDeadline bool
	ts := newTestServer(t, cfg, h, WithStart(func(ctx context.Context) error {
		_, gotDeadline = ctx.Deadline()
		close(entered)
		<-release
		return nil
	}))
	ts.startServing()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("start hook not called within 10s")
	}
	for _, path := range []string{"/_/health", "/_/ready", "/"} {
		if code, body := ts.status("GET", path); code != http.StatusServiceUnavailable {
			t.Errorf("%s while starting = %d %q, want 503", path, code, body)
		}
	}
	if calls.Load() != 0 {
		t.Error("the handler was called while the start hook ran")
	}
	if _, err := os.Stat(cfg.LockFile); err == nil {
		t.Error("lock file written while the start hook ran")
	}
	close(release)
	testkit.WaitFor(t, 10*time.Second, "health 200", func() bool {
		code, _ := ts.status("GET", "/_/health")
		return code == http.StatusOK
	})
	if code, body := ts.status("GET", "/"); code != 200 || body != "ok" {
		t.Errorf("call after start = %d %q", code, body)
	}
	if _, err := os.Stat(cfg.LockFile); err != nil {
		t.Errorf("no lock file after start: %v", err)
	}
	if !gotDeadline {
		t.Error("the start hook's context has no deadline")
	}
	if l := ts.logs.withMsg(t, "started"); len(l) != 1 || l[0]["start_hooks"] != 1.0 {
		t.Errorf("started lines: %v", l)
	}
	if v := ts.metric(`http_requests_total{code="503",method="get"}`); v != 1 {
		t.Errorf(`http_requests_total{code="503",method="get"} = %g, want 1: the call refused while starting`, v)
	}
	if l := ts.logs.withMsg(t, "call"); len(l) != 2 || l[0]["status"] != 503.0 || l[1]["status"] != 200.0 {
		t.Errorf("access lines: %v, want the 503 while starting and the 200 after", l)
	}
}

// A start hook that fails, takes too long or is interrupted stops Serve with
// the reason; later hooks don't run and no lock file is ever written.
func TestStartHookFailures(t *testing.T) {
	never := make(chan struct{})
	t.Cleanup(func() { close(never) })
	ok := func(context.Context) error { return nil }
	tests := []struct {
		name    string
		hook    func(context.Context) error
		cancel  bool // cancel Serve's context once the hook runs
		want    string
		wantErr error
	}{
		{"error", func(context.Context) error { return errors.New("pool: connection refused") }, false,
			"start hook 2 of 3: pool: connection refused", nil},
		{"ignores its context", func(context.Context) error { <-never; return nil }, false,
			"start hook 2 of 3 did not finish within start_timeout (200ms)", context.DeadlineExceeded},
		{"returns its context's error", func(ctx context.Context) error { <-ctx.Done(); return errors.Join(errors.New("dial"), ctx.Err()) }, false,
			"start hook 2 of 3 did not finish within start_timeout (200ms): dial\ncontext deadline exceeded", context.DeadlineExceeded},
		{"interrupted", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, true,
			"start hook 2 of 3 interrupted: context canceled", context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.LockFile = filepath.Join(t.TempDir(), "lockdir", ".lock")
			cfg.StartTimeout = 200 * time.Millisecond
			if tt.cancel {
				cfg.StartTimeout = time.Minute
			}
			running := make(chan struct{})
			var thirdRan atomic.Bool
			ts := newTestServer(t, cfg, okHandler,
				WithStart(ok),
				WithStart(func(ctx context.Context) error { close(running); return tt.hook(ctx) }),
				WithStart(func(context.Context) error { thirdRan.Store(true); return nil }))
			ts.startServing()
			if tt.cancel {
				<-running
				ts.cancel()
			}
			var err error
			select {
			case err = <-ts.done:
				ts.done <- err // for the cleanup's stop
			case <-time.After(20 * time.Second):
				t.Fatal("Serve still starting after 20s")
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("Serve = %q, want %q", err, tt.want)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Serve = %v, want it to wrap %v", err, tt.wantErr)
			}
			if thirdRan.Load() {
				t.Error("the hook after the failed one ran")
			}
			if _, err := os.Stat(filepath.Dir(cfg.LockFile)); err == nil {
				t.Error("the lock file's folder was created: the lock file was written")
			}
		})
	}
}

// The function's readiness answers /_/ready, 503 with its reason, while
// calls keep succeeding; it comes after max_inflight and before ready_path.
func TestReadinessFlips(t *testing.T) {
	var notReady atomic.Pointer[error]
	set := func(err error) { notReady.Store(&err) }
	set(errors.New("cache: warming up (3 of 10 shards)"))
	check := func(ctx context.Context) error {
		if ctx == nil {
			return errors.New("no context")
		}
		return *notReady.Load()
	}
	ts := startServer(t, testConfig(t), okHandler, WithReadiness(check))
	steps := []struct {
		err      error
		code     int
		body     string
		healthOK bool
	}{
		{errors.New("cache: warming up (3 of 10 shards)"), 503, "cache: warming up (3 of 10 shards)\n", true},
		{nil, 200, "", true},
		{errors.New("database: ping: timeout"), 503, "database: ping: timeout\n", true},
	}
	for i, st := range steps {
		set(st.err)
		if code, body := ts.status("GET", "/_/ready"); code != st.code || body != st.body {
			t.Errorf("step %d: /_/ready = %d %q, want %d %q", i, code, body, st.code, st.body)
		}
		if code, _ := ts.status("GET", "/_/health"); code != 200 {
			t.Errorf("step %d: /_/health = %d, want 200 (readiness is not liveness)", i, code)
		}
		if code, body := ts.status("POST", "/"); code != 200 || body != "ok" {
			t.Errorf("step %d: call = %d %q, want 200", i, code, body)
		}
	}
}

func TestReadinessBesideLimitsAndReadyPath(t *testing.T) {
	notReady := errors.New("not yet")
	var ready atomic.Bool
	check := func(context.Context) error {
		if ready.Load() {
			return nil
		}
		return notReady
	}
	b := newBlocker(t)
	var readyPathCalls atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ready" {
			readyPathCalls.Add(1)
			w.WriteHeader(http.StatusAccepted)
			return
		}
		b.ServeHTTP(w, r)
	})
	cfg := testConfig(t)
	cfg.MaxInflight = 1
	cfg.ReadyPath = "/ready"
	ts := startServer(t, cfg, h, WithReadiness(check))

	if code, body := ts.status("GET", "/_/ready"); code != 503 || body != "not yet\n" || readyPathCalls.Load() != 0 {
		t.Errorf("not ready: %d %q, ready_path called %d times; want 503 and no ready_path call", code, body, readyPathCalls.Load())
	}
	ready.Store(true)
	if code, _ := ts.status("GET", "/_/ready"); code != http.StatusAccepted {
		t.Errorf("ready: /_/ready = %d, want ready_path's 202", code)
	}
	call := ts.asyncGet("/")
	b.waitEntered(t)
	ready.Store(false)
	if code, _ := ts.status("GET", "/_/ready"); code != http.StatusTooManyRequests {
		t.Errorf("full and not ready: /_/ready = %d, want 429 (max_inflight first)", code)
	}
	b.open()
	wait(t, call)
}

func TestLifecycleOptionErrors(t *testing.T) {
	for name, opt := range map[string]Option{
		"WithStart(nil): want a start hook":          WithStart(nil),
		"WithReadiness(nil): want a readiness check": WithReadiness(nil),
		"WithShutdown(nil): want a cleanup hook":     WithShutdown(nil),
	} {
		if _, err := New(okHandler, WithConfig(testConfig(t)), opt); err == nil || err.Error() != name {
			t.Errorf("New = %v, want %q", err, name)
		}
	}
}

func TestStartTimeoutFromEnv(t *testing.T) {
	tests := []struct {
		env  string
		want time.Duration
		err  string
	}{
		{"", defaultStartTimeout, ""},
		{"start_timeout=30", 30 * time.Second, ""},
		{"start_timeout=1m30s", 90 * time.Second, ""},
		{"start_timeout=0", 0, `start_timeout="0": want seconds (e.g. 10) or a Go duration (e.g. 10s), greater than 0`},
		{"start_timeout=soon", 0, `start_timeout="soon": want seconds (e.g. 10) or a Go duration (e.g. 10s)`},
	}
	for _, tt := range tests {
		cfg, err := ConfigFromEnv([]string{tt.env})
		switch {
		case tt.err != "":
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: error %v, want %q", tt.env, err, tt.err)
			}
		case err != nil || cfg.StartTimeout != tt.want:
			t.Errorf("%q: %v, %v; want %v", tt.env, cfg.StartTimeout, err, tt.want)
		}
	}
}
