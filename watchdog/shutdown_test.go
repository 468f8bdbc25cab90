package watchdog

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// Cancelling Serve's context with a call in flight: the probes fail at once,
// the lock file goes, the call still completes and Serve returns nil.
func TestShutdownDrainsCallInFlight(t *testing.T) {
	cfg := testConfig(t)
	// Long enough for the checks below on a loaded machine: they must all
	// happen before the listener closes.
	cfg.HealthcheckInterval = 3 * time.Second
	b := newBlocker(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			b.ServeHTTP(w, r)
			return
		}
		okHandler(w, r)
	})
	ts := startServer(t, cfg, h)

	call := ts.asyncGet("/slow")
	b.waitEntered(t)
	ts.cancel()
	cancelled := time.Now()
	testkit.WaitFor(t, 5*time.Second, "health 503 after cancel", func() bool {
		code, _ := ts.status("GET", "/_/health")
		return code == http.StatusServiceUnavailable
	})
	if code, _ := ts.status("GET", "/_/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("ready while draining = %d, want 503", code)
	}
	if _, err := os.Stat(cfg.LockFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file while draining: %v, want it removed", err)
	}
	// New calls are still served while the endpoints update.
	if code, body := ts.status("GET", "/fast"); code != 200 || body != "ok" {
		t.Errorf("call during the drain = %d %q, want 200 ok", code, body)
	}

	// Hold the call past healthcheck_interval, into the listener's shutdown.
	testkit.WaitFor(t, 10*time.Second, "the draining line", func() bool {
		return len(ts.logs.withMsg(t, "shutdown: no new connections; draining")) == 1
	})
	if d := time.Since(cancelled); d < cfg.HealthcheckInterval {
		t.Errorf("draining %v after the cancel, before healthcheck_interval (%v) with a call in flight", d, cfg.HealthcheckInterval)
	}
	select {
	case err := <-ts.done:
		t.Fatalf("Serve returned %v with a call in flight", err)
	default:
	}
	b.open()
	if r := wait(t, call); r.err != nil || r.code != 200 || r.body != "done" {
		t.Errorf("in-flight call = %d %q %v, want 200 done", r.code, r.body, r.err)
	}
	select {
	case err := <-ts.done:
		ts.done <- err
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the last call")
	}
	if err := ts.stop(); err != nil {
		t.Errorf("Serve after a clean drain = %v, want nil", err)
	}
	t.Logf("drain took %v", time.Since(cancelled))
	if len(ts.logs.withMsg(t, "shutdown: complete")) != 1 {
		t.Errorf("no shutdown: complete line:\n%s", ts.logs)
	}
}

// With suppress_lock there is no lock file to remove: the probes must still
// fail as soon as the drain starts.
func TestShutdownProbesFailWithSuppressLock(t *testing.T) {
	cfg := testConfig(t)
	cfg.SuppressLock = true
	cfg.HealthcheckInterval = 5 * time.Second // idle: quietPeriod ends it sooner
	ts := startServer(t, cfg, okHandler)
	ts.cancel()
	testkit.WaitFor(t, 5*time.Second, "health 503 after cancel", func() bool {
		code, _ := ts.status("GET", "/_/health")
		return code == http.StatusServiceUnavailable
	})
	if code, _ := ts.status("GET", "/_/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("ready while draining = %d, want 503", code)
	}
	if err := ts.stop(); err != nil {
		t.Errorf("Serve = %v", err)
	}
}

// A call that outlives write_timeout is cut off, and Serve says so.
func TestShutdownCutsOffLongCall(t *testing.T) {
	cfg := testConfig(t)
	cfg.ExecTimeout = 0 // no 504 to end it
	cfg.WriteTimeout = 300 * time.Millisecond
	b := newBlocker(t)
	ts := startServer(t, cfg, b)

	call := ts.asyncGet("/")
	b.waitEntered(t)
	start := time.Now()
	err := ts.stop()
	if err == nil || !strings.Contains(err.Error(), "1 call(s) still running after write_timeout (300ms) were cut off") {
		t.Errorf("Serve = %v, want it to report the call cut off", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Serve took %v to give up on the call", d)
	}
	if r := wait(t, call); r.err == nil && r.code == 200 && r.body == "done" {
		t.Error("the cut-off call was answered in full")
	}
}

// An idle server doesn't wait out a long healthcheck_interval.
func TestShutdownIdleReturnsAfterQuietPeriod(t *testing.T) {
	cfg := testConfig(t)
	cfg.HealthcheckInterval = 30 * time.Second
	ts := startServer(t, cfg, okHandler)
	ts.status("GET", "/") // an old call doesn't count: quiet is measured from the cancel
	start := time.Now()
	if err := ts.stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// At least quietPeriod; the upper bound only has to tell it from
	// waiting out healthcheck_interval, with room for a loaded machine.
	d := time.Since(start)
	if d < quietPeriod || d > cfg.HealthcheckInterval/2 {
		t.Errorf("idle drain took %v, want from quietPeriod (%v) to well below healthcheck_interval (%v)", d, quietPeriod, cfg.HealthcheckInterval)
	}
	if len(ts.logs.withMsg(t, "shutdown: idle, not waiting out healthcheck_interval")) != 1 {
		t.Errorf("no idle line in:\n%s", ts.logs)
	}
}

func TestShutdownHooks(t *testing.T) {
	cfg := testConfig(t)
	var callDone atomic.Bool
	b := newBlocker(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.ServeHTTP(w, r)
		callDone.Store(true)
	})
	var order []string
	var hookSawCallDone, hookHadDeadline bool
	hook1 := WithShutdown(func(ctx context.Context) error {
		order = append(order, "1")
		hookSawCallDone = callDone.Load()
		_, hookHadDeadline = ctx.Deadline()
		return nil
	})
	hook2 := WithShutdown(func(ctx context.Context) error {
		order = append(order, "2")
		return errors.New("flush failed")
	})
	hook3 := WithShutdown(func(ctx context.Context) error {
		order = append(order, "3")
		return nil
	})
	ts := startServer(t, cfg, h, hook1, hook2, hook3)
	call := ts.asyncGet("/")
	b.waitEntered(t)
	ts.cancel()
	// The drain reaches the in-flight call with the call still blocked: a
	// hook run before the call returned would see hookSawCallDone false.
	testkit.WaitFor(t, 10*time.Second, "the drain to reach the in-flight call", func() bool {
		return len(ts.logs.withMsg(t, "shutdown: no new connections; draining")) == 1
	})
	b.open()
	wait(t, call)
	err := ts.stop()
	if err == nil || err.Error() != "shutdown hook 2: flush failed" {
		t.Errorf("Serve = %v, want the failing hook's error", err)
	}
	if strings.Join(order, ",") != "1,2,3" {
		t.Errorf("hooks ran as %v, want 1,2,3 (all of them, in order)", order)
	}
	if !hookSawCallDone {
		t.Error("hooks ran with a call in flight: a hook ran before the in-flight call finished")
	}
	if !hookHadDeadline {
		t.Error("the hooks' context has no deadline")
	}
}

func TestShutdownHookIgnoringContextIsBounded(t *testing.T) {
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	hook := WithShutdown(func(ctx context.Context) error {
		<-stuck // ignores ctx
		return nil
	})
	ts := startServer(t, testConfig(t), okHandler, hook, WithCleanupTimeout(150*time.Millisecond))
	start := time.Now()
	err := ts.stop()
	if err == nil || !strings.Contains(err.Error(), "shutdown hooks did not finish within 150ms") {
		t.Errorf("Serve = %v, want the hooks' timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Serve took %v with a 150ms cleanup timeout", d)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(nil, WithConfig(testConfig(t))); err == nil {
		t.Error("New(nil) succeeded")
	}
	for _, d := range []time.Duration{0, -time.Second} {
		if _, err := New(okHandler, WithConfig(testConfig(t)), WithCleanupTimeout(d)); err == nil {
			t.Errorf("WithCleanupTimeout(%v) accepted", d)
		}
	}
	_, err := New(okHandler, WithEnv([]string{"write_timeout=banana", "port=0"}))
	if err == nil || !strings.Contains(err.Error(), `write_timeout="banana"`) || !strings.Contains(err.Error(), `port="0"`) {
		t.Errorf("New with a bad env = %v, want both errors", err)
	}
	s, err := New(okHandler, WithEnv([]string{"exec_timeout=3", "max_inflight=4"}))
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Config(); c.ExecTimeout != 3*time.Second || c.MaxInflight != 4 {
		t.Errorf("Config() = %+v", c)
	}
}

// Serve without options reads the environment; with the listeners already
// closed it fails instead of reporting healthy.
func TestServeClosedListener(t *testing.T) {
	fn, metrics := testkit.Listen(t), testkit.Listen(t)
	fn.Close()
	logger, _ := newTestLogger()
	cfg := testConfig(t)
	done := make(chan error, 1)
	go func() {
		done <- Serve(t.Context(), okHandler, WithConfig(cfg), WithLogger(logger), WithListeners(fn, metrics))
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "serving stopped") {
			t.Errorf("Serve on a closed listener = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve kept running on a closed listener")
	}
	if _, err := os.Stat(cfg.LockFile); err == nil {
		t.Error("lock file left behind")
	}
}
