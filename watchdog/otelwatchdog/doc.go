// Package otelwatchdog traces a function's calls with OpenTelemetry: one
// server span per call on the function route, with the HTTP semantic
// conventions' attributes and the status the caller got (the watchdog's
// 429, 504 and 499, and a panic's 500, included), under the caller's span
// from traceparent and tracestate. The call's context carries the span, so
// a handler's own spans are its children:
//
//	ctx, span := otel.Tracer("my-function").Start(r.Context(), "query")
//	defer span.End()
//
// and otelhttp's transport carries the trace on to the calls it makes.
//
// A template links it only when built with the "otel" tag (build arg
// GOFLAGS=-tags=otel), through its options_otel.go:
//
//	options = append(options, watchdog.WithCallObserver(otelwatchdog.New))
//
// The watchdog package itself never imports OpenTelemetry.
//
//   - observer.go: the span per call, its attributes and status; SetRoute.
//   - provider.go: New, the tracer provider and exporter from the OTEL_*
//     variables, and the flush at shutdown.
//   - spans.go: the bound on the batch queue, what became of the spans,
//     and their series on the metrics endpoint.
//   - errorlog.go: the SDK's errors in the watchdog's log, rate limited.
package otelwatchdog
