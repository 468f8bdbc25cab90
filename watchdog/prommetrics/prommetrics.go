// Package prommetrics serves a function's prometheus/client_golang series on
// the watchdog's metrics endpoint (:8081/metrics), after the watchdog's own,
// as upstream's in-process mode serves the default registry. It is a package
// of its own so that only a function importing it links client_golang; the
// watchdog itself writes with VictoriaMetrics/metrics (watchdog.RegisterMetrics).
//
// A function that registers with promauto, on prometheus.DefaultRegisterer,
// registers that registry from its init function:
//
//	var orders = promauto.NewCounter(prometheus.CounterOpts{
//		Name: "orders_placed_total", Help: "Orders placed.",
//	})
//
//	func init() { prommetrics.Register(prometheus.DefaultGatherer) }
//
// The watchdog writes the Go runtime and process series (go_*, process_*)
// itself, so the families of client_golang's own Go and process collectors,
// which prometheus.DefaultRegisterer holds, are left out rather than written
// twice: those whose name, type and help text are theirs. Any other name
// that is the watchdog's (http_requests_total, go_*, ...) is refused at
// start, as for watchdog.RegisterMetrics.
package prommetrics

import (
	"errors"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/internal/hooks"
)

// Register registers g's series for watchdog.Main (and watchdogtest), as
// watchdog.RegisterMetrics does a *metrics.Set; call it from the function
// package's init function.
func Register(g prometheus.Gatherer) {
	var m hooks.Metrics // a nil g stays nil, for the registry's panic
	if g != nil {
		m = newWriter(g)
	}
	hooks.AddMetrics("prommetrics.Register", m)
}

// With adds g's series to a Server, as watchdog.WithMetrics does a
// *metrics.Set.
func With(g prometheus.Gatherer) watchdog.Option {
	if g == nil {
		return func(*watchdog.Server) error {
			return errors.New("prommetrics.With(nil): want a prometheus.Gatherer, e.g. prometheus.DefaultGatherer")
		}
	}
	return watchdog.WithMetrics(newWriter(g))
}

// writer writes a Gatherer's families in the Prometheus text format: a
// watchdog.Metrics.
type writer struct {
	g    prometheus.Gatherer
	skip map[string]string // family → type and help of client_golang's Go and process collectors
}

// newWriter is a writer for g.
func newWriter(g prometheus.Gatherer) *writer {
	return &writer{g: g, skip: defaultCollectorFamilies()}
}

// defaultCollectorFamilies names what prometheus.DefaultRegisterer's Go
// and process collectors write, as this client_golang version writes them
// on this platform: asking them is exact where a list kept here would age.
func defaultCollectorFamilies() map[string]string {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, _ := r.Gather() // what did gather is what could collide
	skip := make(map[string]string, len(mfs))
	for _, mf := range mfs {
		skip[mf.GetName()] = kind(mf)
	}
	return skip
}

// kind tells a collector's family from a function's own of the same name.
func kind(mf *dto.MetricFamily) string { return mf.GetType().String() + " " + mf.GetHelp() }

// WritePrometheus writes what g gathers. As promhttp's ContinueOnError, a
// gathering error still writes the families that did gather; the error is
// logged with slog's default logger, which under watchdog.Main is the
// watchdog's.
func (w *writer) WritePrometheus(out io.Writer) {
	mfs, err := w.g.Gather()
	if err != nil {
		slog.Error("prommetrics: gathering the function's metrics", slog.Any("error", err))
	}
	for _, mf := range mfs {
		if k, ok := w.skip[mf.GetName()]; ok && k == kind(mf) {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(out, mf); err != nil {
			slog.Error("prommetrics: writing the function's metrics", slog.String("family", mf.GetName()), slog.Any("error", err))
			return
		}
	}
}
