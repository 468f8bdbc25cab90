package watchdog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/VictoriaMetrics/metrics"

	"github.com/inproc-go/templates/watchdog/internal/hooks"
)

// Metrics is a function's own series, which the metrics endpoint
// (:8081/metrics) serves after the watchdog's, in the Prometheus text format.
// A VictoriaMetrics/metrics *metrics.Set is one, metrics.GetDefaultSet()
// included for the library's package-level NewCounter and the like; package
// prommetrics adapts a prometheus/client_golang registry.
//
// Names the watchdog writes are the watchdog's: http_requests_total,
// http_request_duration_seconds, http_requests_in_flight,
// watchdog_overdue_handlers, watchdog_aborted_answers_total, and go_* and
// process_* for the Go runtime and the process. A function's series with one of them is refused at start, as
// is a name written by two of the function's Metrics: a scrape with a name
// twice is invalid, and Prometheus would drop all of it.
type Metrics interface {
	WritePrometheus(w io.Writer) // the series in the Prometheus text format
}

// RegisterMetrics registers a function's own series for Main (watchdogtest
// too), to be served after the watchdog's: call it from the function
// package's init function, as OnStart. A name that is the watchdog's, or in
// two registered Metrics, stops the process at start with exit code 2 and
// the name; series created later (on a first call, say) with such a name are
// left out of the scrape and logged once as an error.
func RegisterMetrics(m Metrics) {
	if set, ok := m.(*metrics.Set); ok && set == nil {
		m = nil // so the registry's nil check names it
	}
	hooks.AddMetrics("watchdog.RegisterMetrics", m)
}

// WithMetrics adds a function's own series to a Server, as RegisterMetrics
// does for Main. New returns an error naming every series of m that is the
// watchdog's or an earlier WithMetrics'.
func WithMetrics(m Metrics) Option {
	return func(s *Server) error {
		if set, ok := m.(*metrics.Set); m == nil || ok && set == nil {
			return errors.New("WithMetrics(nil): want a *metrics.Set, or another Metrics")
		}
		return s.life.metrics.add(m)
	}
}

// ownMetrics is a Server's Metrics, in the order they were added.
type ownMetrics struct {
	sources []Metrics
	names   map[string]int // name → index in sources, from add
	logger  *slog.Logger   // set by build

	mu     sync.Mutex
	logged map[string]bool // names already logged as left out of a scrape
}

// add checks what m writes now against the watchdog's names and the earlier
// sources', then keeps m.
func (o *ownMetrics) add(m Metrics) error {
	i := len(o.sources)
	text, err := writeOnce(m)
	if err != nil {
		return fmt.Errorf("metrics: %s: %w", describe(i, m), err)
	}
	if o.names == nil {
		o.names = make(map[string]int)
	}
	var errs []error
	mine := make(map[string]bool)
	for line := range bytes.Lines(text) {
		name := seriesName(line)
		if name == "" || mine[name] {
			continue
		}
		mine[name] = true
		if why := reservedName(name); why != "" {
			errs = append(errs, fmt.Errorf("metrics: %s, written by %s, %s: rename it", name, describe(i, m), why))
		} else if j, ok := o.names[name]; ok {
			errs = append(errs, fmt.Errorf("metrics: %s is written by both %s and %s: register each series once", name, describe(j, o.sources[j]), describe(i, m)))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for name := range mine {
		o.names[name] = i
	}
	o.sources = append(o.sources, m)
	return nil
}

// describe names the function's i-th Metrics in an error.
func describe(i int, m Metrics) string {
	return fmt.Sprintf("the function's metrics #%d (%T)", i+1, m)
}

// writeOnce is what m writes now; a panic (a nil Set inside another type,
// say) is an error at start rather than a crash.
func writeOnce(m Metrics) (text []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("WritePrometheus panicked: %v", r)
		}
	}()
	var buf bytes.Buffer
	m.WritePrometheus(&buf)
	return buf.Bytes(), nil
}

// reservedName says why name belongs to the watchdog, or "" if it doesn't.
// TestReservedNamesCoverTheScrape keeps it in step with what metrics.go
// writes.
func reservedName(name string) string {
	switch name {
	case "http_requests_total",
		"http_request_duration_seconds",
		"http_request_duration_seconds_bucket",
		"http_request_duration_seconds_sum",
		"http_request_duration_seconds_count",
		"http_requests_in_flight",
		"watchdog_overdue_handlers",
		"watchdog_aborted_answers_total":
		return "is the name of one of the watchdog's own series"
	}
	// By prefix, not the exact list: which runtime and process series the
	// library writes depends on its version and the platform (cgroup v2
	// pressure, say), and a name must not pass on one machine only.
	if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
		return "is in go_* or process_*, the Go runtime and process series the watchdog writes itself"
	}
	return ""
}

// seriesName is the name a text-format line is about: a sample's metric
// name, or the family a HELP or TYPE line names; "" for other lines.
func seriesName(line []byte) string {
	line = bytes.TrimLeft(line, " \t")
	if len(line) == 0 {
		return ""
	}
	if line[0] == '#' {
		f := strings.Fields(string(line))
		if len(f) >= 3 && (f[1] == "HELP" || f[1] == "TYPE") {
			return f[2]
		}
		return ""
	}
	if i := bytes.IndexAny(line, "{ \t\r\n"); i >= 0 {
		line = line[:i]
	}
	return string(line)
}

// write serves the function's series after the watchdog's. A series
// created since start with a name the check at start would have refused is
// left out, so the scrape stays valid, and logged once.
func (o *ownMetrics) write(w io.Writer) {
	if o == nil || len(o.sources) == 0 {
		return
	}
	owner := make(map[string]int)
	var buf bytes.Buffer
	for i, m := range o.sources {
		buf.Reset()
		m.WritePrometheus(&buf)
		for line := range bytes.Lines(buf.Bytes()) {
			if name := seriesName(line); name != "" {
				j, seen := owner[name]
				if why := reservedName(name); why != "" {
					o.leftOut(name, describe(i, m)+": "+why)
					continue
				} else if seen && j != i {
					o.leftOut(name, describe(i, m)+": also written by "+describe(j, o.sources[j]))
					continue
				}
				owner[name] = i
			}
			w.Write(line)
			if line[len(line)-1] != '\n' {
				io.WriteString(w, "\n") // so the next source's first line stays its own
			}
		}
	}
}

func (o *ownMetrics) leftOut(name, why string) {
	o.mu.Lock()
	first := !o.logged[name]
	if first {
		if o.logged == nil {
			o.logged = make(map[string]bool)
		}
		o.logged[name] = true
	}
	o.mu.Unlock()
	if first && o.logger != nil {
		o.logger.Error("metrics: a series of the function's is left out of the scrape", slog.String("series", name), slog.String("why", why))
	}
}
