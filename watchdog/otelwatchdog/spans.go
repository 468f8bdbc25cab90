package otelwatchdog

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// spanCounts is what became of the sampled spans, for the metrics endpoint
// and the line logged at shutdown.
type spanCounts struct {
	ended    atomic.Int64 // sampled spans that ended, dropped ones included
	exported atomic.Int64 // accepted by the collector
	failed   atomic.Int64 // in a batch the exporter gave up on
	dropped  atomic.Int64 // no room in the queue
	queued   atomic.Int64 // let in and not yet through the exporter
}

// queueGate holds the batch processor's queue to max spans itself and
// counts the spans it turns away: the SDK's processor drops silently once
// its queue is full and keeps its count to itself. A span is queued from
// OnEnd until the exporter is done with its batch, so the SDK's own queue
// never fills (it is made one span larger, for the marker a ForceFlush puts
// in it) and every span lost to a full queue is counted here.
type queueGate struct {
	sdktrace.SpanProcessor
	counts *spanCounts
	max    int64
}

func (g queueGate) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return // the batch processor would ignore it too
	}
	g.counts.ended.Add(1)
	if g.counts.queued.Add(1) > g.max {
		g.counts.queued.Add(-1)
		g.counts.dropped.Add(1)
		return
	}
	g.SpanProcessor.OnEnd(s)
}

// countingExporter counts what the batch processor managed to send, and
// lets the gate know the batch has left the queue.
type countingExporter struct {
	sdktrace.SpanExporter
	counts *spanCounts
}

func (e countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		e.counts.failed.Add(int64(len(spans)))
	} else {
		e.counts.exported.Add(int64(len(spans)))
	}
	e.counts.queued.Add(-int64(len(spans)))
	return err
}

// WritePrometheus writes the counts for the metrics endpoint, after the
// watchdog's series (the observer passes it on: watchdog.Metrics).
func (c *spanCounts) WritePrometheus(w io.Writer) {
	fmt.Fprintf(w, "# HELP otelwatchdog_spans_dropped_total Sampled spans that never reached the collector: queue_full when the batch queue (OTEL_BSP_MAX_QUEUE_SIZE) had no room for them, export_failed when the exporter gave up on their batch (collector down, refusing, or slower than OTEL_EXPORTER_OTLP_TIMEOUT).\n"+
		"# TYPE otelwatchdog_spans_dropped_total counter\n"+
		"otelwatchdog_spans_dropped_total{reason=\"queue_full\"} %d\n"+
		"otelwatchdog_spans_dropped_total{reason=\"export_failed\"} %d\n"+
		"# HELP otelwatchdog_spans_exported_total Sampled spans the collector accepted.\n"+
		"# TYPE otelwatchdog_spans_exported_total counter\n"+
		"otelwatchdog_spans_exported_total %d\n",
		c.dropped.Load(), c.failed.Load(), c.exported.Load())
}
