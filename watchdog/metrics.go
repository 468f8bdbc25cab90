package watchdog

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// callMetrics keeps of-watchdog's series, with its names, labels and default
// buckets, so existing dashboards and scrape configs keep working:
// http_requests_total{code,method}, http_request_duration_seconds{code,method}
// and http_requests_in_flight. VictoriaMetrics/metrics writes the Prometheus
// text format; client_golang, the larger library, stays out of the binary.
// Each server has its own Sets, never a global registry.
//
// The library writes HELP lines without text, and only when a package-level
// switch (metrics.ExposeMetadata) is on; there is no per-Set one. So the
// switch is left alone, and the watchdog writes its own families' HELP and
// TYPE lines, one Set per family so each family's samples come together.
type callMetrics struct {
	total    *metrics.Set // http_requests_total
	duration *metrics.Set // http_request_duration_seconds
	inflight atomic.Int64
	aborted  [abortReasons]atomic.Int64 // by abortReason; see abort.go
	overdue  func() float64
	own      *ownMetrics // the function's series, written last (ownmetrics.go)

	mu     sync.RWMutex
	series map[seriesKey]*seriesPair
	last   atomic.Pointer[seriesPair] // the series the last call found
}

type seriesKey struct {
	code   int
	method string
}

type seriesPair struct {
	key      seriesKey
	total    *metrics.Counter
	duration *metrics.PrometheusHistogram
}

func newCallMetrics(overdue func() float64) *callMetrics {
	return &callMetrics{
		total:    metrics.NewSet(),
		duration: metrics.NewSet(),
		overdue:  overdue,
		series:   make(map[seriesKey]*seriesPair),
	}
}

// Help texts of the watchdog's own series.
const (
	helpTotal    = "Total HTTP requests processed, by status code and method."
	helpDuration = "Seconds spent serving HTTP requests, by status code and method."
	helpInflight = "HTTP requests being served now."
	helpOverdue  = "Handlers still running after their deadline (exec_timeout or X-Timeout) ended their answer: a 504, or the answer cut."
	helpAborted  = "Answers dropped after they had begun, by reason: exec_timeout (the deadline passed) or panic. Also counted in http_requests_total with the status sent."
)

// middleware counts every call on the function route, 429s included.
//
//go:noinline (a layer: see Server.build)
func (m *callMetrics) middleware(next callHandler) callHandler {
	return func(rec *recorder, r *http.Request) {
		m.inflight.Add(1)
		defer m.done(rec, r) // on a panic too
		next(rec, r)
	}
}

// done counts a call whose handler has returned or panicked.
func (m *callMetrics) done(rec *recorder, r *http.Request) {
	p := m.pair(callStatus(rec, r), methodLabel(r.Method))
	p.total.Inc()
	_, took := rec.finished()
	p.duration.Update(took.Seconds())
	if rec.aborted != 0 {
		m.aborted[rec.aborted].Add(1)
	}
	m.inflight.Add(-1)
}

// pair finds the series for a code and method, creating it once. The
// series of the call before is tried first: most calls of a function share
// one code and method.
func (m *callMetrics) pair(code int, method string) *seriesPair {
	key := seriesKey{code, method}
	if p := m.last.Load(); p != nil && p.key == key {
		return p
	}
	m.mu.RLock()
	p := m.series[key]
	m.mu.RUnlock()
	if p != nil {
		m.last.Store(p)
		return p
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p = m.series[key]; p == nil {
		labels := `{code="` + strconv.Itoa(code) + `",method="` + method + `"}`
		p = &seriesPair{
			key:      key,
			total:    m.total.GetOrCreateCounter("http_requests_total" + labels),
			duration: m.duration.GetOrCreatePrometheusHistogram("http_request_duration_seconds" + labels),
		}
		m.series[key] = p
	}
	return p
}

// methodLabel lower-cases the standard methods and folds the rest into
// "unknown", as of-watchdog does, so a caller can't grow the series set.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet:
		return "get"
	case http.MethodPost:
		return "post"
	case http.MethodPut:
		return "put"
	case http.MethodDelete:
		return "delete"
	case http.MethodHead:
		return "head"
	case http.MethodPatch:
		return "patch"
	case http.MethodOptions:
		return "options"
	case http.MethodConnect:
		return "connect"
	case http.MethodTrace:
		return "trace"
	case "NOTIFY":
		return "notify"
	}
	return "unknown"
}

// handler serves the watchdog's series plus the Go runtime and process
// metrics that of-watchdog's default registry exposed. The runtime series are
// the library's as it writes them: without HELP or TYPE lines unless
// something else in the process turned metrics.ExposeMetadata on.
func (m *callMetrics) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed: use GET", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		bw := bufio.NewWriter(w)
		writeFamily(bw, "http_requests_total", "counter", helpTotal, m.total)
		writeFamily(bw, "http_request_duration_seconds", "histogram", helpDuration, m.duration)
		writeGauge(bw, "http_requests_in_flight", helpInflight, float64(m.inflight.Load()))
		writeGauge(bw, "watchdog_overdue_handlers", helpOverdue, m.overdue())
		m.writeAborted(bw)
		metrics.WriteProcessMetrics(bw)
		m.own.write(bw)
		_ = bw.Flush()
	})
}

// writeFamily writes one family's HELP and TYPE lines and its samples from
// set, dropping the library's own comment lines, which it writes (without
// help text) if something in the process turned its metadata switch on.
// A family with no samples yet is left out, as client_golang does.
func writeFamily(w io.Writer, name, typ, help string, set *metrics.Set) {
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	if buf.Len() == 0 {
		return
	}
	io.WriteString(w, "# HELP "+name+" "+help+"\n# TYPE "+name+" "+typ+"\n")
	for line := range bytes.Lines(buf.Bytes()) {
		if line[0] != '#' {
			w.Write(line)
		}
	}
}

// writeAborted writes watchdog_aborted_answers_total, every reason's
// series from the start, so a dashboard's rate() sees the first one.
func (m *callMetrics) writeAborted(w io.Writer) {
	const name = "watchdog_aborted_answers_total"
	io.WriteString(w, "# HELP "+name+" "+helpAborted+"\n# TYPE "+name+" counter\n")
	for r := abortReason(1); r < abortReasons; r++ {
		io.WriteString(w, name+`{reason="`+r.String()+`"} `+strconv.FormatInt(m.aborted[r].Load(), 10)+"\n")
	}
}

func writeGauge(w io.Writer, name, help string, v float64) {
	io.WriteString(w, "# HELP "+name+" "+help+"\n# TYPE "+name+" gauge\n"+
		name+" "+strconv.FormatFloat(v, 'g', -1, 64)+"\n")
}
