package watchdog

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// A function's own counter, in a Set of its own, is scraped after the
// watchdog's series.
func TestOwnMetricsScraped(t *testing.T) {
	set := metrics.NewSet()
	orders := set.NewCounter(`orders_placed_total{kind="book"}`)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { orders.Inc() })
	ts := startServer(t, testConfig(t), h, WithMetrics(set))
	for range 2 {
		if code, _ := ts.status("POST", "/"); code != 200 {
			t.Fatalf("POST / = %d", code)
		}
	}
	scrape := ts.metrics()
	if v := metricIn(t, scrape, `orders_placed_total{kind="book"}`); v != 2 {
		t.Errorf("orders_placed_total{kind=\"book\"} = %v, want 2\n%s", v, scrape)
	}
	if v := metricIn(t, scrape, `http_requests_total{code="200",method="post"}`); v != 2 {
		t.Errorf(`http_requests_total{code="200",method="post"} = %v, want 2`, v)
	}
	if own, process := strings.Index(scrape, "orders_placed_total"), strings.Index(scrape, "\nprocess_"); own < process {
		t.Errorf("the function's series at %d, before the watchdog's process_* at %d", own, process)
	}
}

// A name the watchdog writes, or one in two of the function's Sets, is
// refused by New with the name and who writes it: never a panic, never a
// scrape with a name twice.
func TestOwnMetricsCollisionRefused(t *testing.T) {
	counter := func(names ...string) *metrics.Set {
		s := metrics.NewSet()
		for _, n := range names {
			s.NewCounter(n)
		}
		return s
	}
	histogram := metrics.NewSet()
	histogram.NewPrometheusHistogram("http_request_duration_seconds")
	tests := []struct {
		name string
		sets []*metrics.Set
		want string
	}{
		{"watchdog's counter", []*metrics.Set{counter(`http_requests_total{code="200"}`)},
			"metrics: http_requests_total, written by the function's metrics #1 (*metrics.Set), is the name of one of the watchdog's own series: rename it"},
		{"watchdog's histogram", []*metrics.Set{histogram},
			"metrics: http_request_duration_seconds_bucket, written by the function's metrics #1 (*metrics.Set), is the name of one of the watchdog's own series: rename it\n" +
				"metrics: http_request_duration_seconds_sum, written by the function's metrics #1 (*metrics.Set), is the name of one of the watchdog's own series: rename it\n" +
				"metrics: http_request_duration_seconds_count, written by the function's metrics #1 (*metrics.Set), is the name of one of the watchdog's own series: rename it"},
		{"a histogram's series", []*metrics.Set{counter("http_request_duration_seconds_count")},
			"metrics: http_request_duration_seconds_count, written by the function's metrics #1 (*metrics.Set), is the name of one of the watchdog's own series: rename it"},
		{"runtime", []*metrics.Set{counter("orders_total", "go_goroutines")},
			"metrics: go_goroutines, written by the function's metrics #1 (*metrics.Set), is in go_* or process_*, the Go runtime and process series the watchdog writes itself: rename it"},
		{"process", []*metrics.Set{counter("process_widgets_total")},
			"metrics: process_widgets_total, written by the function's metrics #1 (*metrics.Set), is in go_* or process_*, the Go runtime and process series the watchdog writes itself: rename it"},
		{"two of the function's", []*metrics.Set{counter("orders_total"), counter("refunds_total"), counter(`orders_total{kind="x"}`)},
			"metrics: orders_total is written by both the function's metrics #1 (*metrics.Set) and the function's metrics #3 (*metrics.Set): register each series once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []Option{WithConfig(testConfig(t))}
			for _, s := range tt.sets {
				opts = append(opts, WithMetrics(s))
			}
			_, err := New(okHandler, opts...)
			if err == nil || err.Error() != tt.want {
				t.Errorf("New: %v\nwant: %s", err, tt.want)
			}
		})
	}
	t.Run("nil", func(t *testing.T) {
		for _, m := range []Metrics{nil, (*metrics.Set)(nil)} {
			if _, err := New(okHandler, WithConfig(testConfig(t)), WithMetrics(m)); err == nil || err.Error() != "WithMetrics(nil): want a *metrics.Set, or another Metrics" {
				t.Errorf("WithMetrics(%#v): New: %v", m, err)
			}
		}
	})
	t.Run("panics", func(t *testing.T) {
		_, err := New(okHandler, WithConfig(testConfig(t)), WithMetrics(nilInside{}))
		if err == nil || !strings.HasPrefix(err.Error(), "metrics: the function's metrics #1 (watchdog.nilInside): WritePrometheus panicked: ") {
			t.Errorf("New: %v", err)
		}
	})
}

type nilInside struct{ set *metrics.Set }

func (n nilInside) WritePrometheus(w io.Writer) { n.set.WritePrometheus(w) }

// A series the function creates after start with a watchdog's name is left
// out of the scrape, which keeps one of each name, and logged once.
func TestOwnMetricsLateCollisionLeftOut(t *testing.T) {
	set := metrics.NewSet()
	set.NewCounter("orders_total").Inc()
	ts := startServer(t, testConfig(t), okHandler, WithMetrics(set))
	set.GetOrCreateCounter("http_requests_in_flight").Add(7)
	for range 2 {
		scrape := ts.metrics()
		if n := strings.Count(scrape, "\nhttp_requests_in_flight "); n != 1 {
			t.Fatalf("http_requests_in_flight %d times in the scrape, want 1 (the watchdog's)\n%s", n, scrape)
		}
		if v := metricIn(t, scrape, "http_requests_in_flight"); v != 0 {
			t.Errorf("http_requests_in_flight = %v, want the watchdog's 0", v)
		}
		if v := metricIn(t, scrape, "orders_total"); v != 1 {
			t.Errorf("orders_total = %v, want 1", v)
		}
	}
	recs := ts.logs.withMsg(t, "metrics: a series of the function's is left out of the scrape")
	if len(recs) != 1 {
		t.Fatalf("logged %d times, want once:\n%s", len(recs), ts.logs.String())
	}
	if recs[0]["level"] != "ERROR" || recs[0]["series"] != "http_requests_in_flight" ||
		recs[0]["why"] != "the function's metrics #1 (*metrics.Set): is the name of one of the watchdog's own series" {
		t.Errorf("logged %v", recs[0])
	}
}

// reservedName covers every name the watchdog's own scrape has, so a series
// added to metrics.go can't be shadowed by a function's.
func TestReservedNamesCoverTheScrape(t *testing.T) {
	cfg := testConfig(t)
	cfg.ExecTimeout = 200 * time.Millisecond
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stuck" {
			<-release
		}
	})
	ts := startServer(t, cfg, h)
	t.Cleanup(func() { close(release) })
	ts.status("GET", "/")
	ts.status("GET", "/stuck")
	scrape := ts.metrics()
	n := 0
	for line := range strings.Lines(scrape) {
		if name := seriesName([]byte(line)); name != "" {
			n++
			if reservedName(name) == "" {
				t.Errorf("%s is in the watchdog's scrape but a function may use it", name)
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d lines with a name: nothing checked\n%s", n, scrape)
	}
}

// The function's series pass promtool as far as the library allows:
// VictoriaMetrics/metrics has no help texts, so "no help text" is all it
// may say of them.
func TestOwnMetricsLint(t *testing.T) {
	set := metrics.NewSet()
	set.NewCounter(`orders_placed_total{kind="book"}`).Inc()
	set.NewPrometheusHistogram("order_value_dollars").Update(12)
	set.NewGauge("orders_queued", func() float64 { return 3 })
	ts := startServer(t, testConfig(t), okHandler, WithMetrics(set))
	ts.status("GET", "/")
	seen := false
	for _, p := range testkit.Promtool(t, ts.metrics()) {
		if !strings.HasPrefix(p, "order") {
			continue
		}
		seen = true
		if !strings.HasSuffix(p, " no help text") {
			t.Errorf("promtool: %s", p)
		}
	}
	if !seen {
		t.Error(`promtool said nothing of the function's series, not even "no help text": were they in the scrape?`)
	}
}
