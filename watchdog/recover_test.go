package watchdog

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

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
			if l["call_id"] != "call-panic" || l["panic"] != "boom at /panic" || !strings.Contains(fmt.Sprint(l["stack"]), "recover_test.go") || l["level"] != "ERROR" {
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
