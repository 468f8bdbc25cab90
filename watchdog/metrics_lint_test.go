package watchdog

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// New leaves the metrics library's package-level metadata switch as it
// found it: each server's metrics are its own.
func TestNewLeavesMetricsLibraryAlone(t *testing.T) {
	logger, _ := newTestLogger()
	if _, err := New(okHandler, WithConfig(testConfig(t)), WithLogger(logger)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	metrics.WriteProcessMetrics(&buf)
	if bytes.Contains(buf.Bytes(), []byte("# TYPE")) {
		t.Error("after New, the library writes TYPE lines for every Set in the process: New turned metrics.ExposeMetadata on")
	}
}

// The watchdog's own series pass Prometheus' linter (promtool check metrics,
// Debian package prometheus) on a real scrape, whether or not something else
// in the process turned the library's metadata switch on. The Go runtime and
// process series are the library's, which has no help texts: their "no help
// text" (and, with the switch on, its types) are not the watchdog's.
//
// Without promtool the test is skipped, unless CI is set: then it fails.
func TestMetricsLint(t *testing.T) {
	for _, switchOn := range []bool{false, true} {
		name := "library metadata off"
		if switchOn {
			name = "library metadata turned on elsewhere"
		}
		t.Run(name, func(t *testing.T) {
			if switchOn {
				metrics.ExposeMetadata(true)
				t.Cleanup(func() { metrics.ExposeMetadata(false) })
			}
			cfg := testConfig(t)
			cfg.ExecTimeout = 300 * time.Millisecond
			release := make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/missing":
					http.NotFound(w, r)
				case "/stuck":
					<-release // past exec_timeout: a 504 and an overdue handler
				default:
					w.Write([]byte("ok"))
				}
			})
			ts := startServer(t, cfg, h)
			t.Cleanup(func() { close(release) }) // before the server's own: its drain waits for /stuck
			for path, want := range map[string]int{"/": 200, "/missing": 404, "/stuck": 504} {
				if code, _ := ts.status("GET", path); code != want {
					t.Fatalf("GET %s = %d, want %d", path, code, want)
				}
			}
			ts.status("POST", "/")
			scrape := ts.metrics()
			for _, family := range ownFamilies {
				if !strings.Contains(scrape, "\n"+family) && !strings.HasPrefix(scrape, family) {
					t.Fatalf("no %s in the scrape: nothing to lint\n%s", family, scrape)
				}
			}

			for _, line := range testkit.Promtool(t, scrape) {
				for _, family := range ownFamilies {
					if strings.HasPrefix(line, family) {
						t.Errorf("promtool: %s", line)
					}
				}
			}
		})
	}
}

// ownFamilies are the series the watchdog writes, as opposed to the
// library's runtime ones.
var ownFamilies = []string{"http_requests_total", "http_request_duration_seconds", "http_requests_in_flight", "watchdog_overdue_handlers"}
