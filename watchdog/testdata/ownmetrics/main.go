// Command ownmetrics is a function with its own series, registered from
// init as a function package would, run by watchdog.Main as a real process:
// a VictoriaMetrics/metrics counter (orders_placed_total) and a
// prometheus/client_golang one through promauto and prommetrics
// (refunds_issued_total), both counted by every call. ownmetrics_collide
// adds a series with a watchdog's name, "vm" (http_requests_total) or "prom"
// (go_goroutines in a registry of its own). A call to /register-late calls
// watchdog.RegisterMetrics, as a function must not once Main has started.
//
// It reads the variables of testdata/fnenv, as testdata/integration does, so
// the same test helpers run it.
package main

import (
	"net/http"
	"os"

	"github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/prommetrics"
	"github.com/inproc-go/templates/watchdog/testdata/fnenv"
)

var (
	set     = metrics.NewSet()
	orders  = set.NewCounter("orders_placed_total")
	refunds = promauto.NewCounter(prometheus.CounterOpts{Name: "refunds_issued_total", Help: "Refunds issued."})
)

func init() {
	watchdog.RegisterMetrics(set)
	prommetrics.Register(prometheus.DefaultGatherer)
	switch os.Getenv("ownmetrics_collide") {
	case "vm":
		s := metrics.NewSet()
		s.NewCounter(`http_requests_total{code="200",method="post"}`)
		watchdog.RegisterMetrics(s)
	case "prom":
		r := prometheus.NewRegistry()
		promauto.With(r).NewGauge(prometheus.GaugeOpts{Name: "go_goroutines", Help: "Goroutines, as the function counts them."})
		prommetrics.Register(r)
	}
}

func main() { fnenv.Main("ownmetrics", http.HandlerFunc(handle)) }

func handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/register-late" {
		watchdog.RegisterMetrics(metrics.NewSet()) // panics: Main has started
	}
	orders.Inc()
	refunds.Inc()
}
