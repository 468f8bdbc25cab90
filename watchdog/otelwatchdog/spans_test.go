package otelwatchdog

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// blockedExporter holds every export until released, then counts the
// spans it got.
type blockedExporter struct {
	release chan struct{}
	got     *atomic.Int64
}

func (e blockedExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	<-e.release
	e.got.Add(int64(len(spans)))
	return nil
}

func (blockedExporter) Shutdown(context.Context) error { return nil }

// TestQueueGateCountsDrops: with the exporter stuck, a queue of 2 lets 2
// spans in and counts every later one as dropped, exactly; once the
// exporter moves, the 2 are exported and nothing is left unsent.
func TestQueueGateCountsDrops(t *testing.T) {
	exp := blockedExporter{make(chan struct{}), &atomic.Int64{}}
	counts := &spanCounts{}
	bsp := sdktrace.NewBatchSpanProcessor(countingExporter{exp, counts},
		sdktrace.WithMaxQueueSize(2+1), sdktrace.WithMaxExportBatchSize(1), sdktrace.WithBatchTimeout(time.Millisecond))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(queueGate{bsp, counts, 2}), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	for range 5 {
		_, span := tp.Tracer("test").Start(context.Background(), "work")
		span.End()
	}
	if ended, dropped := counts.ended.Load(), counts.dropped.Load(); ended != 5 || dropped != 3 {
		t.Errorf("with the exporter stuck: ended %d, dropped %d; want 5 and 3", ended, dropped)
	}
	close(exp.release)
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exported, n := counts.exported.Load(), exp.got.Load(); exported != 2 || n != 2 {
		t.Errorf("after the flush: %d counted exported, %d at the exporter; want 2", exported, n)
	}
	if queued := counts.queued.Load(); queued != 0 {
		t.Errorf("after the flush %d spans still counted as queued", queued)
	}
}

// counter is the value of one series in a scrape; a series that is not
// there fails the test, never reads as 0.
func counter(t *testing.T, scrape, series string) float64 {
	t.Helper()
	v, ok, err := testkit.MetricValue(scrape, series)
	if !ok || err != nil {
		t.Fatalf("no %s in the scrape (%v):\n%s", series, err, scrape)
	}
	return v
}

// scrape is the text of GET url, which must answer 200.
func scrape(t *testing.T, url string) string {
	t.Helper()
	status, body := testkit.Get(t, url)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", url, status, body)
	}
	return body
}

// TestDroppedSpansMetric: a collector that is down, with a queue of one
// span, makes otelwatchdog_spans_dropped_total{reason="queue_full"} climb
// on :8081/metrics, and the series pass promtool's linter (skipped without
// promtool unless CI is set).
func TestDroppedSpansMetric(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+closedPort(t))
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "1")
	t.Setenv("OTEL_BSP_MAX_QUEUE_SIZE", "1")
	t.Setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1")
	s := servedWithNew(t, childSpan, 500*time.Millisecond, "OPENFAAS_NAME=hello")
	const queueFull = `otelwatchdog_spans_dropped_total{reason="queue_full"}`
	if n := counter(t, scrape(t, s.MetricsURL+"/metrics"), queueFull); n != 0 {
		t.Fatalf("%s = %g before any call", queueFull, n)
	}
	for range 10 {
		call(t, "GET", s.URL+"/")
	}
	var last string
	testkit.WaitFor(t, 10*time.Second, queueFull+" above 0 after 10 calls with the collector down and a queue of 1", func() bool {
		last = scrape(t, s.MetricsURL+"/metrics")
		return counter(t, last, queueFull) > 0
	})
	counter(t, last, `otelwatchdog_spans_dropped_total{reason="export_failed"}`)
	counter(t, last, "otelwatchdog_spans_exported_total")
	lint(t, last)
}

// lint fails the test for any problem promtool check metrics finds in the
// otelwatchdog_ series (the runtime series have no help text).
func lint(t *testing.T, scrape string) {
	t.Helper()
	for _, line := range testkit.Promtool(t, scrape) {
		if strings.HasPrefix(line, "otelwatchdog_") {
			t.Errorf("promtool: %s", line)
		}
	}
}
