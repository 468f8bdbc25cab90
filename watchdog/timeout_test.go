package watchdog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// A handler that ignores its context gets the caller a 504 at the deadline;
// its late writes go nowhere (and race nothing, under -race), and it counts
// as overdue until it returns.
func TestExecTimeout504(t *testing.T) {
	cfg := testConfig(t)
	cfg.ExecTimeout = 200 * time.Millisecond
	release := make(chan struct{})
	lateErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // ignores r.Context()
		w.Header().Set("X-Late", "yes")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, err := io.WriteString(w, "late answer")
		w.(http.Flusher).Flush()
		lateErr <- errors.Join(err, http.NewResponseController(w).Flush())
	})
	ts := startServer(t, cfg, h)
	var once bool
	t.Cleanup(func() {
		if !once {
			close(release)
		}
	})

	start := time.Now()
	res, body := ts.get("/", CallIDHeader, "call-504")
	elapsed := time.Since(start)
	if res.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", res.StatusCode)
	}
	if elapsed < 190*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("504 after %v, want about 200ms", elapsed)
	}
	if got := res.Header.Get("X-OpenFaaS-Internal"); got != "of-watchdog" {
		t.Errorf("X-OpenFaaS-Internal = %q, want of-watchdog", got)
	}
	if got := res.Header.Get(CallIDHeader); got != "call-504" {
		t.Errorf("504 call id = %q", got)
	}
	if want := "the function did not answer within 200ms (exec_timeout)\n"; body != want {
		t.Errorf("504 body = %q, want %q", body, want)
	}
	if res.Header.Get("X-Late") != "" {
		t.Error("the late handler's header reached the caller")
	}
	if v := ts.metric("watchdog_overdue_handlers"); v != 1 {
		t.Errorf("watchdog_overdue_handlers while the handler runs on = %v, want 1", v)
	}
	// The handler runs on in the call's own goroutine: it is still in
	// flight, and the call is counted when it returns.
	if v := ts.metric("http_requests_in_flight"); v != 1 {
		t.Errorf("in flight while the overdue handler runs = %v, want 1", v)
	}
	if !res.Close {
		t.Error("the 504 did not say Connection: close (the handler still holds the connection)")
	}
	warn := ts.logs.withMsg(t, "exec_timeout: no answer from the handler in time; answered 504, handler still running")
	if len(warn) != 1 || warn[0]["call_id"] != "call-504" || warn[0]["level"] != "WARN" {
		t.Errorf("exec_timeout warning: %v", warn)
	}

	once = true
	close(release)
	select {
	case err := <-lateErr:
		if !errors.Is(err, errAbandoned) {
			t.Errorf("late write: %v, want errAbandoned", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not return")
	}
	testkit.WaitFor(t, 2*time.Second, "watchdog_overdue_handlers 0", func() bool {
		return ts.metric("watchdog_overdue_handlers") == 0
	})
	// The connection is still good for the next call.
	if code, _ := ts.status("GET", "/_/health"); code != 200 {
		t.Errorf("health after the late handler = %d", code)
	}
	if v := ts.metric(`http_requests_total{code="504",method="get"}`); v != 1 {
		t.Errorf("504s counted once the handler returned: %v, want 1", v)
	}
	if v := ts.metric("http_requests_in_flight"); v != 0 {
		t.Errorf("in flight after the handler returned = %v, want 0", v)
	}
}

// A handler that watches its context and returns at the deadline without
// writing gets the caller the watchdog's 504 too, not an empty 200, whichever
// side notices the deadline first.
func TestExecTimeoutHandlerHonoursContext(t *testing.T) {
	cfg := testConfig(t)
	cfg.ExecTimeout = 30 * time.Millisecond
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Handler", "1")
		<-r.Context().Done()
	})
	ts := startServer(t, cfg, h)
	for i := range 10 { // the two sides race; try it a few times
		res, body := ts.get("/")
		if res.StatusCode != http.StatusGatewayTimeout || res.Header.Get("X-Handler") != "" {
			t.Fatalf("call %d = %d %q %v, want the watchdog's 504", i, res.StatusCode, body, res.Header)
		}
	}
	testkit.WaitFor(t, 2*time.Second, "overdue back to 0", func() bool { return ts.srv.timeout.overdue.Load() == 0 })
}

// Contexts the handler derives from its own see the deadline as they would
// under context.WithDeadline: Done and DeadlineExceeded at the deadline,
// while the caller gets its 504 at the deadline too.
func TestExecTimeoutDerivedContexts(t *testing.T) {
	const exec = 200 * time.Millisecond
	type seen struct {
		name     string
		err      error
		cause    error
		deadline bool
		after    time.Duration // from the call's arrival
	}
	derive := []struct {
		name string
		make func(context.Context) (context.Context, context.CancelFunc)
	}{
		{"WithCancel", context.WithCancel},
		{"WithTimeout longer", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Hour)
		}},
		{"WithValue", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithValue(ctx, callKey{}, nil), func() {}
		}},
		{"own", func(ctx context.Context) (context.Context, context.CancelFunc) { return ctx, func() {} }},
	}
	cfg := testConfig(t)
	cfg.ExecTimeout = exec
	got := make(chan seen, len(derive))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var wg sync.WaitGroup
		for _, d := range derive {
			ctx, cancel := d.make(r.Context())
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer cancel()
				<-ctx.Done()
				_, ok := ctx.Deadline()
				got <- seen{d.name, ctx.Err(), context.Cause(ctx), ok, time.Since(start)}
			}()
		}
		wg.Wait()
	})
	ts := startServer(t, cfg, h)
	start := time.Now()
	res, _ := ts.get("/")
	if took := time.Since(start); res.StatusCode != http.StatusGatewayTimeout || took < exec || took > exec+time.Second {
		t.Errorf("status %d after %s, want 504 at exec_timeout (%s)", res.StatusCode, took, exec)
	}
	for range derive {
		var s seen
		select {
		case s = <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("a derived context was not done 5s after the deadline")
		}
		if s.err != context.DeadlineExceeded || s.cause != context.DeadlineExceeded || !s.deadline {
			t.Errorf("%s: Err() = %v, Cause = %v, has deadline %t; want DeadlineExceeded, DeadlineExceeded, true", s.name, s.err, s.cause, s.deadline)
		}
		if s.after < exec-10*time.Millisecond || s.after > exec+time.Second {
			t.Errorf("%s: Done after %s, want at exec_timeout (%s)", s.name, s.after, exec)
		}
	}
}

// Under exec_timeout the handler writes through a guard; an answer of headers
// alone, or a status alone, must still reach the caller.
func TestExecTimeoutHeadersOnlyAnswer(t *testing.T) {
	cfg := testConfig(t)
	cfg.ExecTimeout = 5 * time.Second
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Only", "headers")
		if r.URL.Path == "/status" {
			w.WriteHeader(http.StatusAccepted)
		}
	})
	ts := startServer(t, cfg, h)
	if res, body := ts.get("/"); res.StatusCode != 200 || res.Header.Get("X-Only") != "headers" || body != "" {
		t.Errorf("headers only = %d %v %q", res.StatusCode, res.Header, body)
	}
	if res, _ := ts.get("/status"); res.StatusCode != http.StatusAccepted || res.Header.Get("X-Only") != "headers" {
		t.Errorf("status only = %d %v", res.StatusCode, res.Header)
	}
}

func TestXTimeout(t *testing.T) {
	deadlineHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := r.Context().Deadline()
		if !ok {
			io.WriteString(w, "none")
			return
		}
		fmt.Fprint(w, time.Until(d).Round(10*time.Millisecond))
	})
	tests := []struct {
		name     string
		exec     time.Duration
		xTimeout string
		code     int
		want     time.Duration // the deadline's distance, or -1 for none
	}{
		{"no header", 2 * time.Second, "", 200, 2 * time.Second},
		{"shorter duration", 2 * time.Second, "300ms", 200, 300 * time.Millisecond},
		{"shorter seconds", 2 * time.Second, "1", 200, time.Second},
		{"longer is capped", 2 * time.Second, "10s", 200, 2 * time.Second},
		{"longer seconds capped", 2 * time.Second, "3600", 200, 2 * time.Second},
		{"no exec deadline", 0, "", 200, -1},
		{"no exec deadline, header sets one", 0, "500ms", 200, 500 * time.Millisecond},
		{"malformed", 2 * time.Second, "banana", 400, 0},
		{"fractional seconds", 2 * time.Second, "1.5", 400, 0},
		{"zero", 2 * time.Second, "0", 400, 0},
		{"negative", 2 * time.Second, "-1s", 400, 0},
		{"too long", 2 * time.Second, "1" + strings.Repeat("0", 40) + "ns", 400, 0},
	}
	cfg := testConfig(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.ExecTimeout = tt.exec
			c.LockFile = t.TempDir() + "/.lock"
			ts := startServer(t, c, deadlineHandler)
			var hdr []string
			if tt.xTimeout != "" {
				hdr = []string{"X-Timeout", tt.xTimeout}
			}
			res, body := ts.get("/", hdr...)
			if res.StatusCode != tt.code {
				t.Fatalf("X-Timeout %q = %d %q, want %d", tt.xTimeout, res.StatusCode, body, tt.code)
			}
			switch {
			case tt.code == 400:
				if !strings.HasPrefix(body, `X-Timeout="`) || !strings.Contains(body, "want a positive Go duration") {
					t.Errorf("400 body %q", body)
				}
				if len(body) > 150 {
					t.Errorf("400 body echoes too much of the header: %d bytes", len(body))
				}
			case tt.want < 0:
				if body != "none" {
					t.Errorf("handler saw a deadline %s away, want none", body)
				}
			default:
				got, err := time.ParseDuration(body)
				if err != nil || got > tt.want || got < tt.want-200*time.Millisecond {
					t.Errorf("handler's deadline %s away, want about %s", body, tt.want)
				}
			}
		})
	}
}

func TestPanic(t *testing.T) {
	for _, exec := range []time.Duration{0, 5 * time.Second} {
		t.Run("exec_timeout="+exec.String(), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ExecTimeout = exec
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/panic" {
					w.Header().Set("X-Before-Panic", "1")
					panic(fmt.Sprintf("boom at %s", r.URL.Path))
				}
				io.WriteString(w, "alive")
			})
			ts := startServer(t, cfg, h)
			res, body := ts.get("/panic", CallIDHeader, "call-panic")
			if res.StatusCode != http.StatusInternalServerError {
				t.Fatalf("panic = %d, want 500", res.StatusCode)
			}
			if !strings.Contains(body, "call-panic") {
				t.Errorf("500 body %q lacks the call id", body)
			}
			if res.Header.Get(CallIDHeader) != "call-panic" {
				t.Errorf("500 call id header = %q", res.Header.Get(CallIDHeader))
			}
			logs := ts.logs.withMsg(t, "handler panicked")
			if len(logs) != 1 {
				t.Fatalf("panic logged %d times: %s", len(logs), ts.logs)
			}
			l := logs[0]
			if l["call_id"] != "call-panic" || l["panic"] != "boom at /panic" || !strings.Contains(fmt.Sprint(l["stack"]), "timeout_test.go") || l["level"] != "ERROR" {
				t.Errorf("panic log %v", l)
			}
			if code, body := ts.status("GET", "/"); code != 200 || body != "alive" {
				t.Errorf("call after the panic = %d %q", code, body)
			}
			if v := ts.metric("http_requests_in_flight"); v != 0 {
				t.Errorf("in flight after the panic = %v", v)
			}
			if v := ts.metric(`http_requests_total{code="500",method="get"}`); v != 1 {
				t.Errorf("500s counted: %v, want 1", v)
			}
			if access := ts.logs.withMsg(t, "call"); len(access) != 2 || access[0]["status"] != 500.0 {
				t.Errorf("access log of the panic: %v", access)
			}
		})
	}
}

// panic(http.ErrAbortHandler) drops the connection quietly, as with net/http.
func TestPanicErrAbortHandler(t *testing.T) {
	for _, exec := range []time.Duration{0, 5 * time.Second} {
		t.Run("exec_timeout="+exec.String(), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ExecTimeout = exec
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/abort" {
					panic(http.ErrAbortHandler)
				}
				io.WriteString(w, "alive")
			})
			ts := startServer(t, cfg, h)
			res, err := ts.client.Get(ts.url + "/abort")
			if err == nil {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				t.Fatalf("aborted call answered %d %q, want the connection dropped", res.StatusCode, b)
			}
			if len(ts.logs.withMsg(t, "handler panicked")) != 0 {
				t.Error("ErrAbortHandler logged as a panic")
			}
			if code, body := ts.status("GET", "/"); code != 200 || body != "alive" {
				t.Errorf("call after the abort = %d %q", code, body)
			}
			if v := ts.metric("http_requests_in_flight"); v != 0 {
				t.Errorf("in flight after the abort = %v", v)
			}
		})
	}
}

// A handler that panics after its answer began can't be answered 500; the
// caller must not take the truncated stream for a whole one.
func TestPanicMidStreamAbortsConnection(t *testing.T) {
	for _, exec := range []time.Duration{0, 5 * time.Second} {
		t.Run("exec_timeout="+exec.String(), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ExecTimeout = exec
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "partial\n")
				w.(http.Flusher).Flush()
				panic("mid-stream")
			})
			ts := startServer(t, cfg, h)
			res, err := ts.client.Get(ts.url + "/")
			if err != nil {
				t.Fatalf("the stream's headers were sent, yet: %v", err)
			}
			defer res.Body.Close()
			line, _ := bufio.NewReader(res.Body).ReadString('\n')
			body, err := io.ReadAll(res.Body)
			if line != "partial\n" {
				t.Errorf("first line %q", line)
			}
			if err == nil {
				t.Errorf("stream after a panic ended cleanly (rest %q), want a read error", body)
			}
			if len(ts.logs.withMsg(t, "handler panicked")) != 1 {
				t.Errorf("mid-stream panic not logged once: %s", ts.logs)
			}
			if v := ts.metric("http_requests_in_flight"); v != 0 {
				t.Errorf("in flight = %v", v)
			}
			access := ts.logs.withMsg(t, "call")
			if len(access) != 1 || access[0]["status"] != 200.0 || access[0]["aborted"] != "panic" {
				t.Errorf("access log of the mid-stream panic: %v, want status 200, aborted panic", access)
			}
			if v := ts.metric(`watchdog_aborted_answers_total{reason="panic"}`); v != 1 {
				t.Errorf("aborted answers (panic) = %v, want 1", v)
			}
			if v := ts.metric(`http_requests_total{code="200",method="get"}`); v != 1 {
				t.Errorf("http_requests_total 200 = %v, want 1 (the status the caller got)", v)
			}
		})
	}
}
