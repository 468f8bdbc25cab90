package watchdogtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/internal/testkit"
	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

// What a function package registers from init, as the function would: a
// pool opened at start, readiness while it is warm, closed at shutdown.
var (
	pool struct {
		mu     sync.Mutex
		events []string
	}
	warm atomic.Bool
)

func event(e string) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	pool.events = append(pool.events, e)
}

func events() string {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	s := strings.Join(pool.events, ",")
	pool.events = nil
	return s
}

func init() {
	watchdog.OnStart(func(ctx context.Context) error { event("open"); return nil })
	watchdog.OnReady(func(ctx context.Context) error {
		if !warm.Load() {
			return errors.New("pool: cold")
		}
		return nil
	})
	watchdog.OnShutdown(func(ctx context.Context) error { event("close"); return nil })
}

var handle = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	event("call")
	io.WriteString(w, "ok")
})

func TestNewRunsRegisteredHooks(t *testing.T) {
	events()
	s := watchdogtest.New(t, handle)
	if got := events(); got != "open" {
		t.Errorf("after New: %q, want the start hook's open", got)
	}
	warm.Store(false)
	if code, body := testkit.Get(t, s.URL+"/_/ready"); code != 503 || body != "pool: cold\n" {
		t.Errorf("cold: /_/ready = %d %q", code, body)
	}
	warm.Store(true)
	if code, _ := testkit.Get(t, s.URL+"/_/ready"); code != 200 {
		t.Errorf("warm: /_/ready = %d", code)
	}
	if code, body := testkit.Get(t, s.URL+"/"); code != 200 || body != "ok" {
		t.Errorf("call = %d %q", code, body)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if got := events(); got != "call,close" {
		t.Errorf("after Close: %q, want call,close", got)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestNewWithOptions(t *testing.T) {
	events()
	var started bool
	s := watchdogtest.NewWith(t, handle, watchdogtest.Options{
		Env:            []string{"max_inflight=3"},
		SkipRegistered: true,
		Watchdog:       []watchdog.Option{watchdog.WithStart(func(context.Context) error { started = true; return nil })},
	})
	if code, _ := testkit.Get(t, s.URL+"/_/ready"); code != 200 {
		t.Errorf("/_/ready = %d, want 200 without the registered readiness", code)
	}
	s.Close()
	if got := events(); got != "" || !started {
		t.Errorf("events %q, own start hook ran: %v; want no registered hook, own one run", got, started)
	}
}

// fatalTB records Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestNewFailsOnAStartError(t *testing.T) {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchdogtest.NewWith(f, handle, watchdogtest.Options{SkipRegistered: true,
			Watchdog: []watchdog.Option{watchdog.WithStart(func(context.Context) error { return errors.New("no database") })}})
	}()
	<-done
	if want := "watchdogtest: server stopped at start: start hook 1 of 1: no database"; f.msg != want {
		t.Errorf("Fatalf(%q), want %q", f.msg, want)
	}
}

// What a test reads of a server: answers, series, JSON log records.
func TestMetricsAndLogRecords(t *testing.T) {
	s := watchdogtest.NewWith(t, handle, watchdogtest.Options{Env: []string{"log_format=json"}, SkipRegistered: true})
	code, body, err := s.Do("POST", "/orders?id=7", strings.NewReader("x"), http.Header{"X-Call-Id": {"call-1"}})
	if err != nil || code != 200 || body != "ok" {
		t.Fatalf("Do = %d %q %v, want 200 ok", code, body, err)
	}
	const series = `http_requests_total{code="200",method="post"}`
	s.WaitMetric(t, series, 1)
	if got := s.Metric(t, series); got != 1 {
		t.Errorf("Metric(%s) = %g, want 1", series, got)
	}
	if v, ok := s.LookupMetric(t, `http_requests_total{code="500",method="post"}`); ok {
		t.Errorf("a 500 series exposed with %g, no call answered 500", v)
	}
	rec := s.WaitLog(t, "for the call", func(r map[string]any) bool { return r["msg"] == "call" })
	if rec["path"] != "/orders" || rec["call_id"] != "call-1" || rec["status"] != float64(200) {
		t.Errorf("access log record %v, want path /orders, call_id call-1, status 200", rec)
	}
	if n := len(s.LogRecords(t)); n < 2 {
		t.Errorf("%d log records, want at least the start and the call", n)
	}
}

// A missing series, a wait that times out and text logs fail the test
// instead of reading as 0 or nothing.
func TestReadersFail(t *testing.T) {
	text := watchdogtest.NewWith(t, handle, watchdogtest.Options{SkipRegistered: true})
	for _, tt := range []struct {
		name string
		read func(testing.TB)
		want string
	}{
		{"missing series", func(tb testing.TB) { text.Metric(tb, "orders_placed_total") },
			"watchdogtest: no series orders_placed_total in the scrape"},
		{"a label not exposed", func(tb testing.TB) { text.Metric(tb, `http_requests_in_flight{x="1"}`) },
			`of that name (labels are matched as written): http_requests_in_flight 0`},
		{"text logs", func(tb testing.TB) { text.LogRecords(tb) },
			"is not a JSON record: logged with log_format=json?"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fatalTB{TB: t}
			done := make(chan struct{})
			go func() { defer close(done); tt.read(f) }()
			<-done
			if !strings.Contains(f.msg, tt.want) {
				t.Errorf("Fatalf(%q), want it to say %q", f.msg, tt.want)
			}
		})
	}
}

// readsSecret answers the secret api-key as the function reads it.
var readsSecret = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	key, err := watchdog.Secret(r.Context(), "api-key")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	io.WriteString(w, key)
})

// watchdog.Secret, in a call and in a start hook, reads the secrets the
// test gave its server, by secret_mount_path or Options.Secrets; servers
// running side by side each read their own.
func TestSecretsReachTheFunction(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "api-key"), []byte("from-folder\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		o    watchdogtest.Options
		want string
	}{
		{"secret_mount_path", watchdogtest.Options{Env: []string{"secret_mount_path=" + dir}}, "from-folder"},
		{"Options.Secrets", watchdogtest.Options{Secrets: map[string]string{"api-key": "from-map\n", "other": "x"}}, "from-map"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var atStart string
			tt.o.SkipRegistered = true
			tt.o.Watchdog = []watchdog.Option{watchdog.WithStart(func(ctx context.Context) (err error) {
				atStart, err = watchdog.Secret(ctx, "api-key")
				return err
			})}
			s := watchdogtest.NewWith(t, readsSecret, tt.o)
			if atStart != tt.want {
				t.Errorf("start hook read %q, want %q", atStart, tt.want)
			}
			for range 20 { // while the other server runs too
				if code, body := testkit.Get(t, s.URL+"/"); code != 200 || body != tt.want {
					t.Fatalf("call = %d %q, want 200 %q", code, body, tt.want)
				}
			}
		})
	}
}

// Lines hooks log with watchdog.Logger(ctx) are in Logs, in log_format,
// whichever hook: start, readiness check or shutdown.
func TestHookLogs(t *testing.T) {
	logIn := func(hook string) func(context.Context) error {
		return func(ctx context.Context) error {
			watchdog.Logger(ctx).Info("hook ran", "hook", hook)
			return nil
		}
	}
	for _, tt := range []struct {
		format string
		want   func(hook string) string
	}{
		{"json", func(hook string) string { return `"msg":"hook ran","hook":"` + hook + `"` }},
		{"text", func(hook string) string { return `level=INFO msg="hook ran" hook=` + hook }},
	} {
		t.Run(tt.format, func(t *testing.T) {
			s := watchdogtest.NewWith(t, handle, watchdogtest.Options{
				Env:            []string{"log_format=" + tt.format},
				SkipRegistered: true,
				Watchdog: []watchdog.Option{
					watchdog.WithStart(logIn("start")),
					watchdog.WithReadiness(logIn("ready")),
					watchdog.WithShutdown(logIn("shutdown")),
				},
			})
			if code, _ := testkit.Get(t, s.URL+"/_/ready"); code != 200 {
				t.Errorf("/_/ready = %d", code)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			logs := s.Logs()
			for _, hook := range []string{"start", "ready", "shutdown"} {
				if !strings.Contains(logs, tt.want(hook)) {
					t.Errorf("the %s hook's line (%s) is not in the logs:\n%s", hook, tt.want(hook), logs)
				}
			}
		})
	}
}

// What New refuses, and why, before anything runs.
func TestNewRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    watchdogtest.Options
		want string
	}{
		{"the function's own variable", watchdogtest.Options{Env: []string{"AUDIT_FILE=/tmp/audit.log"}},
			`"AUDIT_FILE=/tmp/audit.log": AUDIT_FILE is not a watchdog setting (those are OPENFAAS_NAME, `},
		{"the function's own variable, how to set it", watchdogtest.Options{Env: []string{"AUDIT_FILE=/tmp/audit.log"}},
			`set it with t.Setenv("AUDIT_FILE", ...)`},
		{"a setting without a value", watchdogtest.Options{Env: []string{"exec_timeout"}},
			`watchdogtest: "exec_timeout": want name=value, e.g. exec_timeout=2s`},
		{"two sources of secrets", watchdogtest.Options{Env: []string{"secret_mount_path=/s"}, Secrets: map[string]string{"a": "b"}},
			"watchdogtest: both Options.Secrets and secret_mount_path given: want one source of secrets"},
		{"a secret name that leaves the folder", watchdogtest.Options{Secrets: map[string]string{"../escape": "x"}},
			`watchdogtest: Options.Secrets: secret name "../escape": want a file name in the secrets folder`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fatalTB{TB: t}
			done := make(chan struct{})
			go func() { defer close(done); watchdogtest.NewWith(f, handle, tt.o) }()
			<-done
			if !strings.Contains(f.msg, tt.want) {
				t.Errorf("Fatalf(%q), want it to say %q", f.msg, tt.want)
			}
		})
	}
}
