package e2e

import (
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/inproc-go/templates/tests/internal/container"
)

// TestStreams runs Server-Sent Events under exec_timeout=1s in a container:
// a stream that outlives the deadline is cut, whether or not its handler
// honours its context, so the caller reads an error, never a clean end; one
// inside the deadline ends cleanly; a panic mid-stream has its access line.
func TestStreams(t *testing.T) {
	requireE2E(t)
	const exec = time.Second
	image := "localhost/inproc-e2e/streams:latest"
	container.BuildFunction(t, container.Function{
		Lang: "golang-middleware-inproc", Handler: filepath.Join("testdata", "streams"), Tag: image,
	})
	c := container.Run(t, image, container.Env("exec_timeout=1s"))

	// stream reads a whole stream and returns its body, its read error and
	// how long it took.
	stream := func(path, callID string) (string, time.Duration, error) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, c.URL(path), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Call-Id", callID)
		start := time.Now()
		res, err := container.Client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("GET %s: %d %q, want a 200 event stream", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		body, err := io.ReadAll(res.Body)
		return string(body), time.Since(start), err
	}

	for _, s := range []struct{ name, path string }{
		{"honours its context", "/events?n=20"},
		{"ignores its context", "/ignore"},
	} {
		t.Run(s.name, func(t *testing.T) {
			callID := "e2e-cut-" + strings.Fields(s.name)[0]
			body, took, err := stream(s.path, callID)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("a stream past exec_timeout: read error %v after %q, want unexpected EOF", err, body)
			}
			if took < exec {
				t.Errorf("cut after %s, before the deadline (%s)", took, exec)
			}
			t.Logf("cut after %s with %d events", took, strings.Count(body, "data: "))
			if !strings.HasPrefix(body, "data: 1\n\n") || strings.Contains(body, "data: 20\n") {
				t.Errorf("body %q, want the events up to the deadline", body)
			}
			if s.path == "/ignore" {
				if v := metricValue(t, c, "watchdog_overdue_handlers"); v != 1 {
					t.Errorf("watchdog_overdue_handlers while the handler ignoring its context runs = %v, want 1", v)
				}
				waitMetric(t, c, "watchdog_overdue_handlers", 0, 5*time.Second)
			}
			waitLogs(t, c, "status=200", "aborted=exec_timeout call_id="+callID)
		})
	}
	if v := metricValue(t, c, `watchdog_aborted_answers_total{reason="exec_timeout"}`); v != 2 {
		t.Errorf(`watchdog_aborted_answers_total{reason="exec_timeout"} = %v, want 2`, v)
	}

	t.Run("inside the deadline", func(t *testing.T) {
		body, _, err := stream("/events?n=5", "e2e-five")
		if err != nil {
			t.Errorf("a stream inside exec_timeout: %v, want a clean end", err)
		}
		if want := "data: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\ndata: 5\n\n"; body != want {
			t.Errorf("body %q, want %q", body, want)
		}
		logs := waitLogs(t, c, "call_id=e2e-five")
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, "call_id=e2e-five") && (!strings.Contains(line, "status=200") || strings.Contains(line, "aborted=")) {
				t.Errorf("access line %q, want status 200, not aborted", line)
			}
		}
	})

	t.Run("panic mid-stream", func(t *testing.T) {
		body, _, err := stream("/panic", "e2e-panic")
		if !errors.Is(err, io.ErrUnexpectedEOF) || body != "data: 1\n\n" {
			t.Errorf("a stream whose handler panicked: %q, %v, want its first event then unexpected EOF", body, err)
		}
		waitLogs(t, c, "e2e streams mid-stream panic", "status=200", "aborted=panic call_id=e2e-panic")
		if v := metricValue(t, c, `watchdog_aborted_answers_total{reason="panic"}`); v != 1 {
			t.Errorf(`watchdog_aborted_answers_total{reason="panic"} = %v, want 1`, v)
		}
	})
}

// waitMetric waits until the series name reads want.
func waitMetric(t *testing.T, c *container.Container, name string, want float64, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); metricValue(t, c, name) != want; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach %v within %s", name, want, timeout)
		}
	}
}
