package watchdog_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

var registerLeak sync.Once

// Routes on http.DefaultServeMux, e.g. net/http/pprof's, are never served:
// the function gets every path, as sent.
func TestDefaultServeMuxNotExposed(t *testing.T) {
	const leak = "/debug/watchdog-test-leak"
	registerLeak.Do(func() { // once per process, for -count=N
		http.HandleFunc(leak, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "LEAKED")
		})
	})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "function got %s", r.URL.Path)
	})
	s := watchdogtest.NewWith(t, h, watchdogtest.Options{SkipRegistered: true})

	tests := []struct{ path, want string }{
		{leak, "function got " + leak},
		{"/debug/pprof/", "function got /debug/pprof/"},
		{"/a/../b", "function got /a/../b"}, // no redirect to a clean path
		{"//double", "function got //double"},
	}
	for _, tt := range tests {
		code, body, err := s.Do("GET", tt.path, nil, nil)
		if err != nil || code != 200 || body != tt.want {
			t.Errorf("GET %s = %d %q %v, want 200 %q", tt.path, code, body, err, tt.want)
		}
	}
	res, err := s.Client.Get(s.MetricsURL + leak)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 404 || strings.Contains(string(b), "LEAKED") {
		t.Errorf("metrics port %s = %d %q, want 404", leak, res.StatusCode, b)
	}
}

// Two servers in one process keep their own routes, metrics and probes.
func TestTwoServers(t *testing.T) {
	start := func(name string, env ...string) *watchdogtest.Server {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
		return watchdogtest.NewWith(t, h, watchdogtest.Options{Env: append([]string{"log_format=json"}, env...), SkipRegistered: true})
	}
	a, b := start("a"), start("b", "max_inflight=7")
	get := func(s *watchdogtest.Server) string {
		t.Helper()
		_, body, err := s.Do("GET", "/", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return body
	}

	for range 3 {
		if body := get(a); body != "a" {
			t.Fatalf("server a answered %q", body)
		}
	}
	if body := get(b); body != "b" {
		t.Fatalf("server b answered %q", body)
	}
	const calls = `http_requests_total{code="200",method="get"}`
	if v := a.Metric(t, calls); v != 3 {
		t.Errorf("server a counted %v calls, want 3", v)
	}
	if v := b.Metric(t, calls); v != 1 {
		t.Errorf("server b counted %v calls, want 1", v)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if code, _, err := b.Do("GET", "/_/health", nil, nil); code != 200 {
		t.Errorf("server b health after a stopped = %d %v", code, err)
	}
	if body := get(b); body != "b" {
		t.Errorf("server b after a stopped answered %q", body)
	}
	callLines := func(s *watchdogtest.Server) int {
		n := 0
		for _, m := range testkit.Messages(s.LogRecords(t)) {
			if m == "call" {
				n++
			}
		}
		return n
	}
	// The access log line is written just after the answer; mixed logs
	// never get there.
	testkit.WaitFor(t, 10*time.Second, "3 access log lines in a's log, 2 in b's", func() bool {
		return callLines(a) == 3 && callLines(b) == 2
	})
}
