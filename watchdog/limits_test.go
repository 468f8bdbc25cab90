package watchdog

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestMaxInflight(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxInflight = 2
	b := newBlocker(t)
	var refusedCalled atomic.Bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(CallIDHeader) == "refused" {
			refusedCalled.Store(true) // before blocking, so before any answer
		}
		b.ServeHTTP(w, r)
	})
	ts := startServer(t, cfg, h)

	calls := []<-chan result{ts.asyncGet("/"), ts.asyncGet("/")}
	b.waitEntered(t)
	b.waitEntered(t)

	// Asynchronously, so a call that is let through to the blocked handler
	// fails here (wait's 10s) rather than hanging the test.
	res := wait(t, ts.asyncGet("/", CallIDHeader, "refused"))
	if res.err != nil || res.code != http.StatusTooManyRequests {
		t.Fatalf("third call = %d %v, want 429", res.code, res.err)
	}
	if got, want := res.body, "Concurrent request limit exceeded. Max concurrent requests: 2\n"; got != want {
		t.Errorf("429 body = %q, want %q", got, want)
	}
	if got := res.hdr.Get("Content-Type"); got != "text/plain" {
		t.Errorf("429 Content-Type = %q, want text/plain", got)
	}
	if got := res.hdr.Get("X-OpenFaaS-Internal"); got != "faas-middleware" {
		t.Errorf("429 X-OpenFaaS-Internal = %q, want faas-middleware", got)
	}
	if res.hdr.Get(CallIDHeader) != "refused" {
		t.Errorf("429 call id %q, want the caller's", res.hdr.Get(CallIDHeader))
	}
	if refusedCalled.Load() {
		t.Error("the handler was called for a refused call")
	}

	b.open()
	for _, c := range calls {
		if r := wait(t, c); r.code != 200 {
			t.Errorf("admitted call = %d %v", r.code, r.err)
		}
	}
	// The refused call gave its slot back too.
	if code, _ := ts.status("GET", "/"); code != 200 {
		t.Fatalf("call after the others finished = %d, want 200", code)
	}
	b.waitEntered(t)
}

// upstream leaked a limiter slot on every panic until the pod only answered 429
func TestPanicDoesNotLeakSlot(t *testing.T) {
	for _, exec := range []time.Duration{0, 5 * time.Second} {
		t.Run("exec_timeout="+exec.String(), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.MaxInflight = 1
			cfg.ExecTimeout = exec
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/panic" {
					panic("boom")
				}
				io.WriteString(w, "ok")
			})
			ts := startServer(t, cfg, h)
			for i := range 3 {
				if code, _ := ts.status("GET", "/panic"); code != http.StatusInternalServerError {
					t.Fatalf("panic %d = %d, want 500", i, code)
				}
			}
			if code, body := ts.status("GET", "/"); code != 200 || body != "ok" {
				t.Errorf("call after the panics = %d %q, want 200 ok", code, body)
			}
			if code, _ := ts.status("GET", "/_/ready"); code != 200 {
				t.Errorf("ready after the panics = %d, want 200", code)
			}
			if n := ts.srv.health.limiter.inflight.Load(); n != 0 {
				t.Errorf("limiter holds %d slots after the calls", n)
			}
		})
	}
}

func TestMaxBodyBytes(t *testing.T) {
	const limit = 16
	var called atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called.Add(1)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			if IsBodyTooLarge(err) {
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				io.WriteString(w, "handler: too large")
				return
			}
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Write(b)
	})
	cfg := testConfig(t)
	cfg.MaxBodyBytes = limit
	ts := startServer(t, cfg, h)

	tests := []struct {
		name       string
		body       io.Reader
		code       int
		bodyPrefix string
		handler    bool // whether the handler is called
	}{
		{"empty", nil, 200, "", true},
		{"at the limit", strings.NewReader(strings.Repeat("a", limit)), 200, strings.Repeat("a", limit), true},
		{"declared over", strings.NewReader(strings.Repeat("a", limit+1)), 413, "request body of 17 bytes is over the limit of 16 bytes (max_body_bytes)", false},
		{"chunked under", io.MultiReader(strings.NewReader("short")), 200, "short", true},
		{"chunked over", io.MultiReader(strings.NewReader(strings.Repeat("b", 1000))), 413, "handler: too large", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called.Store(0)
			req := ts.request("POST", "/", tt.body)
			res, body := ts.do(req)
			if res.StatusCode != tt.code || !strings.HasPrefix(body, tt.bodyPrefix) {
				t.Errorf("= %d %q, want %d %q", res.StatusCode, body, tt.code, tt.bodyPrefix)
			}
			if got := called.Load() == 1; got != tt.handler {
				t.Errorf("handler called: %v, want %v", got, tt.handler)
			}
		})
	}
}

func TestIsBodyTooLarge(t *testing.T) {
	r := http.MaxBytesReader(nil, io.NopCloser(bytes.NewReader(make([]byte, 10))), 5)
	_, err := io.ReadAll(r)
	if !IsBodyTooLarge(err) {
		t.Errorf("IsBodyTooLarge(%v) = false", err)
	}
	if IsBodyTooLarge(io.ErrUnexpectedEOF) || IsBodyTooLarge(nil) {
		t.Error("IsBodyTooLarge true for other errors")
	}
}
