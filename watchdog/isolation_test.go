package watchdog

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
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
	ts := startServer(t, testConfig(t), h)

	tests := []struct{ path, want string }{
		{leak, "function got " + leak},
		{"/debug/pprof/", "function got /debug/pprof/"},
		{"/a/../b", "function got /a/../b"}, // no redirect to a clean path
		{"//double", "function got //double"},
	}
	for _, tt := range tests {
		res, body := ts.get(tt.path)
		if res.StatusCode != 200 || body != tt.want {
			t.Errorf("GET %s = %d %q, want 200 %q", tt.path, res.StatusCode, body, tt.want)
		}
	}
	base := strings.TrimSuffix(ts.metricsURL, "/metrics")
	res, err := ts.client.Get(base + leak)
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
	handler := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
	}
	a := startServer(t, testConfig(t), handler("a"))
	cfgB := testConfig(t)
	cfgB.MaxInflight = 7
	b := startServer(t, cfgB, handler("b"))

	for range 3 {
		if _, body := a.get("/"); body != "a" {
			t.Fatalf("server a answered %q", body)
		}
	}
	if _, body := b.get("/"); body != "b" {
		t.Fatalf("server b answered %q", body)
	}
	if v := a.metric(`http_requests_total{code="200",method="get"}`); v != 3 {
		t.Errorf("server a counted %v calls, want 3", v)
	}
	if v := b.metric(`http_requests_total{code="200",method="get"}`); v != 1 {
		t.Errorf("server b counted %v calls, want 1", v)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if code, _ := b.status("GET", "/_/health"); code != 200 {
		t.Errorf("server b health after a stopped = %d", code)
	}
	if _, body := b.get("/"); body != "b" {
		t.Errorf("server b after a stopped answered %q", body)
	}
	if len(a.logs.withMsg(t, "call")) != 3 || len(b.logs.withMsg(t, "call")) != 2 {
		t.Error("the servers' access logs are mixed")
	}
}
