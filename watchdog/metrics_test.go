package watchdog

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxInflight = 1
	b := newBlocker(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/block":
			b.ServeHTTP(w, r)
		default:
			io.WriteString(w, "ok")
		}
	})
	ts := startServer(t, cfg, h)

	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/", 200},
		{"GET", "/a?x=1", 200},
		{"POST", "/", 200},
		{"GET", "/missing", 404},
		{"PROPFIND", "/", 200},
		{"DELETE", "/", 200},
	} {
		if code, _ := ts.status(c.method, c.path); code != c.code {
			t.Fatalf("%s %s = %d, want %d", c.method, c.path, code, c.code)
		}
	}
	// Probes are not calls.
	for range 3 {
		ts.status("GET", "/_/health")
		ts.status("GET", "/_/ready")
		ts.status("POST", "/_/health")
	}

	// A call in flight shows in the gauge; a second one is refused and counted.
	blocked := ts.asyncGet("/block")
	b.waitEntered(t)
	if v := ts.metric("http_requests_in_flight"); v != 1 {
		t.Errorf("http_requests_in_flight with one call blocked = %v, want 1", v)
	}
	if code, _ := ts.status("GET", "/"); code != http.StatusTooManyRequests {
		t.Fatalf("second call = %d, want 429", code)
	}
	b.open()
	wait(t, blocked)

	text := ts.metrics()
	want := map[string]float64{
		`http_requests_total{code="200",method="get"}`:                 3, // two and /block
		`http_requests_total{code="200",method="post"}`:                1,
		`http_requests_total{code="404",method="get"}`:                 1,
		`http_requests_total{code="200",method="unknown"}`:             1,
		`http_requests_total{code="200",method="delete"}`:              1,
		`http_requests_total{code="429",method="get"}`:                 1,
		`http_request_duration_seconds_count{code="200",method="get"}`: 3,
		`http_request_duration_seconds_count{code="429",method="get"}`: 1,
		`http_requests_in_flight`:                                      0,
		`watchdog_overdue_handlers`:                                    0,
	}
	for series, v := range want {
		if got := metricIn(t, text, series); got != v {
			t.Errorf("%s = %v, want %v", series, got, v)
		}
	}
	// Nothing else was counted: the probes were not.
	var total float64
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "http_requests_total{") {
			var v float64
			fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
			total += v
		}
	}
	if total != 8 {
		t.Errorf("http_requests_total sums to %v, want 8 (probes must not count):\n%s", total, text)
	}
	// of-watchdog's buckets, in Prometheus' format.
	for _, le := range []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"} {
		series := `http_request_duration_seconds_bucket{code="200",method="get",le="` + le + `"}`
		metricIn(t, text, series)
	}
	if v := metricIn(t, text, `http_request_duration_seconds_bucket{code="200",method="get",le="+Inf"}`); v != 3 {
		t.Errorf("+Inf bucket = %v, want 3", v)
	}
	for _, line := range []string{
		"# TYPE http_request_duration_seconds histogram",
		"# TYPE http_requests_total counter",
		"# TYPE http_requests_in_flight gauge",
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("no %q line", line)
		}
	}
	// Go runtime and process metrics, as of-watchdog's default registry had.
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(text, "\n"+name+" ") {
			t.Errorf("no %s series", name)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	ts := startServer(t, testConfig(t), okHandler)
	base := strings.TrimSuffix(ts.metricsURL, "/metrics")
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/metrics", 200},
		{"HEAD", "/metrics", 200},
		{"POST", "/metrics", 405},
		{"GET", "/", 404},
		{"GET", "/_/health", 404}, // probes live on the function port only
	} {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		res, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.code {
			t.Errorf("%s %s on the metrics port = %d, want %d", c.method, c.path, res.StatusCode, c.code)
		}
		if c.code == 200 && !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Errorf("metrics Content-Type %q", res.Header.Get("Content-Type"))
		}
	}
	// The metrics port serves no function calls.
	if ts.hasSeries(`http_requests_total{code="404",method="get"}`) {
		t.Error("metrics port requests were counted as calls")
	}
	if ts.hasSeries(`http_requests_total{code="405",method="post"}`) {
		t.Error("a refused metrics request was counted as a call")
	}
}

func TestMethodLabel(t *testing.T) {
	for method, want := range map[string]string{
		"GET": "get", "POST": "post", "PUT": "put", "DELETE": "delete", "HEAD": "head",
		"PATCH": "patch", "OPTIONS": "options", "CONNECT": "connect", "TRACE": "trace",
		"NOTIFY": "notify", "get": "unknown", "BREW": "unknown", "": "unknown",
	} {
		if got := methodLabel(method); got != want {
			t.Errorf("methodLabel(%q) = %q, want %q", method, got, want)
		}
	}
}
