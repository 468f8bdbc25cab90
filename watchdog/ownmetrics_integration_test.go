package watchdog_test

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// testdata/ownmetrics registers a VictoriaMetrics/metrics Set and a
// client_golang registry (through prommetrics) from init; these runs show
// Main serving them on the metrics port and refusing a watchdog's name.

func TestMainServesTheFunctionsMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs testdata/ownmetrics")
	}
	p := startFn(t, buildTestdata(t, "ownmetrics"), "healthcheck_interval=1ms")
	for range 3 {
		if code, body := testkit.Get(t, p.url+"/"); code != 200 {
			t.Fatalf("GET / = %d %s", code, body)
		}
	}
	_, scrape := testkit.Get(t, p.metricsURL)
	for _, want := range []string{
		"\n" + `http_requests_total{code="200",method="get"} 3` + "\n",
		"\norders_placed_total 3\n",
		"\n# HELP refunds_issued_total Refunds issued.\n# TYPE refunds_issued_total counter\nrefunds_issued_total 3\n",
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("no %q in the scrape", strings.TrimSpace(want))
		}
	}
	// client_golang's Go collector, in its default registry, is left out:
	// go_goroutines is the watchdog's, once.
	if n := strings.Count(scrape, "\ngo_goroutines "); n != 1 {
		t.Errorf("go_goroutines %d times, want 1\n%s", n, scrape)
	}

	// Registration once Main has started is a bug, seen at once: the
	// call's panic, answered 500 and logged with its message.
	if code, _ := testkit.Get(t, p.url+"/register-late"); code != 500 {
		t.Errorf("GET /register-late = %d, want 500 from the panic", code)
	}
	const late = "watchdog.RegisterMetrics called after watchdog.Main started: register metrics from the function package's init function"
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.wait(20 * time.Second)
	if !strings.Contains(p.stderr.String(), late) {
		t.Errorf("log has no %q:\n%s", late, p.stderr.String())
	}
}

func TestMainRefusesACollidingName(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs testdata/ownmetrics")
	}
	bin := buildTestdata(t, "ownmetrics")
	for _, tt := range []struct{ collide, want string }{
		{"vm", "metrics: http_requests_total, written by the function's metrics #3 (*metrics.Set), is the name of one of the watchdog's own series: rename it\n"},
		{"prom", "metrics: go_goroutines, written by the function's metrics #3 (*prommetrics.writer), is in go_* or process_*, the Go runtime and process series the watchdog writes itself: rename it\n"},
	} {
		t.Run(tt.collide, func(t *testing.T) {
			code, out, lockDir := runToExit(t, bin, "ownmetrics_collide="+tt.collide)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.HasSuffix(out, "watchdog: bad configuration:\n"+tt.want) {
				t.Errorf("output %q, want it to end with the collision:\n%s", out, tt.want)
			}
			if strings.Contains(out, "panic") {
				t.Errorf("panicked:\n%s", out)
			}
			if _, err := os.Stat(lockDir); err == nil {
				t.Errorf("%s exists: the lock file was written", lockDir)
			}
		})
	}
}
