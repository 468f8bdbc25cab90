package otelwatchdog

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.Copy(w, r.Body)
})

// BenchmarkCall is a POST over loopback to the watchdog without tracing and
// with a span per call (every call sampled, exported in batches to a no-op
// exporter, as New's batch processor would to a collector), with and without
// a caller's traceparent: the difference is what tracing costs a call.
func BenchmarkCall(b *testing.B) {
	for _, bench := range []struct {
		name   string
		traced bool
		header []string
	}{
		{"untraced", false, nil},
		{"traced", true, nil},
		{"traced-traceparent", true, []string{"traceparent", "00-" + callerTrace + "-" + callerSpan + "-01"}},
	} {
		b.Run(bench.name, func(b *testing.B) {
			o := watchdogtest.Options{Env: []string{"max_inflight=1000"}, SkipRegistered: true}
			if bench.traced {
				tp := sdktrace.NewTracerProvider(
					sdktrace.WithBatcher(tracetest.NewNoopExporter()),
					sdktrace.WithSampler(sdktrace.AlwaysSample()))
				b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
				o.Watchdog = []watchdog.Option{watchdog.WithCallObserver(WithProvider(tp, propagation.TraceContext{}))}
			}
			s := watchdogtest.NewWith(b, echo, o)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			payload := []byte(`{"hello":"world"}`)
			req, _ := http.NewRequest("POST", s.URL+"/", nil)
			for i := 0; i+1 < len(bench.header); i += 2 {
				req.Header.Set(bench.header[i], bench.header[i+1])
			}
			b.ReportAllocs()
			for b.Loop() {
				req.Body = io.NopCloser(bytes.NewReader(payload))
				req.ContentLength = int64(len(payload))
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK || n != int64(len(payload)) {
					b.Fatalf("%d, %d bytes", res.StatusCode, n)
				}
			}
		})
	}
}

// BenchmarkSpan is the observer alone, Start and End around nothing: the
// span's own cost per call, without the loopback's noise.
func BenchmarkSpan(b *testing.B) {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(tracetest.NewNoopExporter()),
		sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	o := newObserver(tp, propagation.TraceContext{}, nil)
	req := httptest.NewRequest("POST", "http://hello.openfaas-fn:8080/", nil)
	req.Header.Set("User-Agent", "bench")
	b.ReportAllocs()
	for b.Loop() {
		ctx := o.Start(req)
		o.End(ctx, watchdog.CallResult{Status: 200, Bytes: 17, End: time.Now()})
	}
}
