package prommetrics_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/internal/testkit"
	"github.com/inproc-go/templates/watchdog/prommetrics"
	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

// As a function package would: promauto on the default registry, and the
// registry registered from init, so watchdogtest serves it as Main does.
var (
	calls = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "prommetrics_test_calls_total", Help: "Calls the test function served.",
	}, []string{"path"})
	handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.WithLabelValues(r.URL.Path).Inc()
	})
)

func init() { prommetrics.Register(prometheus.DefaultGatherer) }

// call is the body of a GET of url, which must answer 200.
func call(t *testing.T, url string) string {
	t.Helper()
	code, body := testkit.Get(t, url)
	if code != 200 {
		t.Fatalf("GET %s = %d %.200q", url, code, body)
	}
	return body
}

// The function's client_golang counter is scraped beside http_requests_total;
// the default registry's Go and process collectors are left out, so each
// go_* and process_* name is there once, the watchdog's.
func TestRegisteredDefaultRegistryScraped(t *testing.T) {
	calls.Reset() // a package-level counter: -count=N runs this test N times in one process
	srv := watchdogtest.New(t, handler)
	call(t, srv.URL+"/orders")
	call(t, srv.URL+"/orders")
	text := call(t, srv.MetricsURL+"/metrics")
	for _, want := range []string{
		"\n" + `http_requests_total{code="200",method="get"} 2` + "\n",
		"\n# HELP prommetrics_test_calls_total Calls the test function served.\n# TYPE prommetrics_test_calls_total counter\n" +
			`prommetrics_test_calls_total{path="/orders"} 2` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in the scrape\n%s", strings.TrimSpace(want), text)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_start_time_seconds"} {
		if n := strings.Count(text, "\n"+name+" "); n != 1 {
			t.Errorf("%s %d times in the scrape, want once", name, n)
		}
	}
	if strings.Contains(text, "# HELP go_") || strings.Contains(text, "# HELP process_") {
		t.Errorf("client_golang's Go or process collector was written:\n%s", text)
	}
}

// With, for New and Serve, on a registry of the function's own.
func TestWithOwnRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	queued := promauto.With(reg).NewGauge(prometheus.GaugeOpts{Name: "orders_queued", Help: "Orders waiting."})
	queued.Set(4)
	srv := watchdogtest.NewWith(t, handler, watchdogtest.Options{
		SkipRegistered: true,
		Watchdog:       []watchdog.Option{prommetrics.With(reg)},
	})
	call(t, srv.URL+"/")
	text := call(t, srv.MetricsURL+"/metrics")
	if !strings.Contains(text, "\norders_queued 4\n") || !strings.Contains(text, "\nhttp_requests_total{") {
		t.Errorf("want orders_queued 4 beside http_requests_total:\n%s", text)
	}
	if strings.Contains(text, "prommetrics_test_calls_total") {
		t.Error("SkipRegistered: the registered default registry was served too")
	}
}

// A family with a watchdog's name is refused by New, with its name and
// where it came from; so is a go_* family that isn't the Go collector's,
// even with one of its names. The collectors' own families are not.
func TestCollisionRefused(t *testing.T) {
	own := prometheus.NewRegistry()
	promauto.With(own).NewCounter(prometheus.CounterOpts{Name: "http_requests_total", Help: "Mine."})
	goroutines := prometheus.NewRegistry()
	promauto.With(goroutines).NewGauge(prometheus.GaugeOpts{Name: "go_goroutines", Help: "Goroutines, as the function counts them."})
	withCollectors := prometheus.NewRegistry()
	withCollectors.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, tt := range []struct {
		name string
		g    prometheus.Gatherer
		want string
	}{
		{"watchdog's", own, "metrics: http_requests_total, written by the function's metrics #1 (*prommetrics.writer), is the name of one of the watchdog's own series: rename it"},
		{"go_ of the function's", goroutines, "metrics: go_goroutines, written by the function's metrics #1 (*prommetrics.writer), is in go_* or process_*, the Go runtime and process series the watchdog writes itself: rename it"},
		{"collectors", withCollectors, ""},
		{"nil", nil, "prommetrics.With(nil): want a prometheus.Gatherer, e.g. prometheus.DefaultGatherer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := watchdog.New(handler, watchdog.WithEnv(nil), prommetrics.With(tt.g))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("New: %q\nwant %q", got, tt.want)
			}
		})
	}
	t.Run("Register(nil)", func(t *testing.T) {
		defer func() {
			if r := recover(); r != "prommetrics.Register(nil)" {
				t.Errorf("panic %v, want prommetrics.Register(nil)", r)
			}
		}()
		prommetrics.Register(nil)
	})
}

// The function's client_golang series, with their help texts, pass
// promtool check metrics.
func TestLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := promauto.With(reg)
	f.NewCounterVec(prometheus.CounterOpts{Name: "orders_placed_total", Help: "Orders placed."}, []string{"kind"}).WithLabelValues("book").Inc()
	f.NewHistogram(prometheus.HistogramOpts{Name: "order_value_dollars", Help: "Value of each order."}).Observe(12)
	f.NewSummary(prometheus.SummaryOpts{Name: "order_prep_seconds", Help: "Time to prepare an order."}).Observe(0.3)
	srv := watchdogtest.NewWith(t, handler, watchdogtest.Options{Watchdog: []watchdog.Option{prommetrics.With(reg)}})
	call(t, srv.URL+"/")
	text := call(t, srv.MetricsURL+"/metrics")
	if !strings.Contains(text, "\norder_prep_seconds_count 1\n") {
		t.Fatalf("no order_prep_seconds in the scrape: nothing to lint\n%s", text)
	}
	for _, line := range testkit.Promtool(t, text) {
		if strings.HasPrefix(line, "order") || strings.HasPrefix(line, "prommetrics_test") {
			t.Errorf("promtool: %s", line)
		}
	}
}
