package otelwatchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/internal/namespace"
)

// New is the constructor for watchdog.WithCallObserver that a template
// built with the "otel" tag uses. It configures OpenTelemetry from the
// standard environment variables, as the SDK and the OTLP exporters read
// them (OTEL_EXPORTER_OTLP_ENDPOINT, _HEADERS, _TIMEOUT, _PROTOCOL and
// their _TRACES_ forms, OTEL_TRACES_SAMPLER and _ARG, OTEL_BSP_*,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_EXPORTER,
// OTEL_SDK_DISABLED, OTEL_PROPAGATORS), and installs the tracer provider
// and the propagators as otel's globals, so otel.Tracer in the handler and
// otelhttp's transport use them.
//
// OTEL_PROPAGATORS is a comma-separated list of tracecontext (W3C Trace
// Context) and baggage (W3C Baggage), by default both, or none for neither:
// then every call starts a new trace. The specification's other
// propagators (b3, b3multi, jaeger, xray, ottrace) are not linked into this
// build and are refused at start.
//
// The service name defaults to "<OPENFAAS_NAME>.<namespace>", the namespace
// being OPENFAAS_NAMESPACE or the service account's.
//
// Spans leave through a batch span processor: nothing connects at start,
// and a call never waits for the collector. Once its queue (OTEL_BSP_MAX_
// QUEUE_SIZE, 2048) is full, spans are dropped; the metrics endpoint counts
// them, and those in batches the exporter gave up on, as
// otelwatchdog_spans_dropped_total{reason="queue_full"|"export_failed"},
// beside otelwatchdog_spans_exported_total. Shutdown flushes the queue
// within the watchdog's cleanup timeout and logs the counts.
func New(cfg watchdog.Config, logger *slog.Logger) (watchdog.CallObserver, error) {
	env, err := readEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	prop := newPropagator(env.propagators)
	otel.SetTextMapPropagator(prop)
	otel.SetErrorHandler(newErrorLog(logger))
	if env.disabled {
		// The caller's context still reaches the handler's outgoing calls.
		logger.Info("opentelemetry: OTEL_SDK_DISABLED=true; no spans are recorded")
		tp := noop.NewTracerProvider()
		otel.SetTracerProvider(tp)
		return newObserver(tp, prop, nil), nil
	}

	ctx := context.Background()
	res, err := newResource(ctx, cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("opentelemetry: resource: %w", err)
	}
	counts := &spanCounts{}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if env.exporter != "none" {
		exp, err := newExporter(ctx, env.protocol)
		if err != nil {
			return nil, fmt.Errorf("opentelemetry: exporter: %w", err)
		}
		// Never blocking on a full queue: a call must not wait for the
		// collector. The gate keeps the queue's bound (spans.go); the
		// batch timing comes from OTEL_BSP_*.
		bsp := sdktrace.NewBatchSpanProcessor(countingExporter{exp, counts}, sdktrace.WithMaxQueueSize(env.maxQueue+1))
		opts = append(opts, sdktrace.WithSpanProcessor(queueGate{bsp, counts, int64(env.maxQueue)}))
	}
	tp := sdktrace.NewTracerProvider(opts...) // the sampler from OTEL_TRACES_SAMPLER
	otel.SetTracerProvider(tp)
	logger.Info("opentelemetry: tracing calls",
		slog.String("service.name", serviceName(res)),
		slog.String("exporter", env.exporter),
		slog.String("protocol", env.protocol),
		slog.String("propagators", strings.Join(env.propagators, ",")))
	o := newObserver(tp, prop, func(ctx context.Context) error {
		return shutdown(ctx, tp, counts, logger)
	})
	if env.exporter != "none" {
		o.counts = counts
	}
	return o, nil
}

// otelEnv is what New reads itself; the rest of the OTEL_* variables are
// the SDK's and the exporters'.
type otelEnv struct {
	disabled bool
	exporter string // "otlp" or "none"
	protocol string // "http/protobuf" or "grpc"
	// propagators are OTEL_PROPAGATORS' names, in order, each once; none
	// is the empty list.
	propagators []string
	maxQueue    int // OTEL_BSP_MAX_QUEUE_SIZE
}

// readEnv refuses at start what the SDK would otherwise only log and
// ignore: an unknown sampler, exporter, protocol or propagator, a queue
// size that is not a number.
func readEnv(getenv func(string) string) (otelEnv, error) {
	var env otelEnv
	var errs []error
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }

	switch v := strings.ToLower(get("OTEL_SDK_DISABLED")); v {
	case "", "false":
	case "true":
		env.disabled = true
	default:
		errs = append(errs, fmt.Errorf("OTEL_SDK_DISABLED=%q: want true or false", v))
	}

	switch v := get("OTEL_TRACES_EXPORTER"); v {
	case "", "otlp":
		env.exporter = "otlp"
	case "none":
		env.exporter = "none"
	default:
		errs = append(errs, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: want otlp or none (this build links only the OTLP exporter)", v))
	}

	name, v := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if v == "" {
		name, v = "OTEL_EXPORTER_OTLP_PROTOCOL", get("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch v {
	case "", "http/protobuf":
		env.protocol = "http/protobuf"
	case "grpc":
		env.protocol = "grpc"
	default:
		errs = append(errs, fmt.Errorf("%s=%q: want http/protobuf or grpc (the Go OTLP exporters have no http/json)", name, v))
	}

	switch s := get("OTEL_TRACES_SAMPLER"); s {
	case "", "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
	case "traceidratio", "parentbased_traceidratio":
		if arg := get("OTEL_TRACES_SAMPLER_ARG"); arg != "" {
			if r, err := strconv.ParseFloat(arg, 64); err != nil || r < 0 || r > 1 {
				errs = append(errs, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio from 0 to 1 for %s", arg, s))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("OTEL_TRACES_SAMPLER=%q: want always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio", s))
	}
	env.maxQueue = sdktrace.DefaultMaxQueueSize
	if v := get("OTEL_BSP_MAX_QUEUE_SIZE"); v != "" {
		// The gate in front of the queue needs the size the SDK would use.
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("OTEL_BSP_MAX_QUEUE_SIZE=%q: want a whole number of spans, 1 or more", v))
		}
		env.maxQueue = n
	}

	var err error
	env.propagators, err = readPropagators(get("OTEL_PROPAGATORS"))
	errs = append(errs, err)
	return env, errors.Join(errs...)
}

// acceptedPropagators is what an OTEL_PROPAGATORS error names.
const acceptedPropagators = "want a comma-separated list of tracecontext and baggage, or none"

// readPropagators parses OTEL_PROPAGATORS as the specification's
// environment variables say: a comma-separated list, case-insensitive,
// tracecontext,baggage when empty or unset. none (no propagator) alone.
func readPropagators(v string) ([]string, error) {
	if v == "" {
		return []string{"tracecontext", "baggage"}, nil
	}
	var names []string
	var errs []error
	none := false
	for name := range strings.SplitSeq(v, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch name {
		case "":
			errs = append(errs, fmt.Errorf("OTEL_PROPAGATORS=%q: an empty name; %s", v, acceptedPropagators))
		case "tracecontext", "baggage":
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		case "none":
			none = true
		case "b3", "b3multi", "jaeger", "xray", "ottrace":
			errs = append(errs, fmt.Errorf("OTEL_PROPAGATORS=%q: %s is not linked into this build; %s", v, name, acceptedPropagators))
		default:
			errs = append(errs, fmt.Errorf("OTEL_PROPAGATORS=%q: unknown propagator %q; %s", v, name, acceptedPropagators))
		}
	}
	if none && len(names) > 0 {
		errs = append(errs, fmt.Errorf("OTEL_PROPAGATORS=%q: none means no propagator, so it cannot come with others; %s", v, acceptedPropagators))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return names, nil
}

// newPropagator is the composite of the propagators readPropagators named,
// in their order; for none, one that neither extracts nor injects.
func newPropagator(names []string) propagation.TextMapPropagator {
	props := make([]propagation.TextMapPropagator, 0, len(names))
	for _, name := range names {
		switch name {
		case "tracecontext":
			props = append(props, propagation.TraceContext{})
		case "baggage":
			props = append(props, propagation.Baggage{})
		}
	}
	return propagation.NewCompositeTextMapPropagator(props...)
}

func newExporter(ctx context.Context, protocol string) (sdktrace.SpanExporter, error) {
	// Neither connects here: gRPC dials lazily, HTTP per export.
	if protocol == "grpc" {
		return otlptracegrpc.New(ctx)
	}
	return otlptracehttp.New(ctx)
}

// newResource is the SDK's default resource with service.name defaulting
// to "<name>.<namespace>"; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
// win over it.
func newResource(ctx context.Context, cfg watchdog.Config, logger *slog.Logger) (*resource.Resource, error) {
	var own []resource.Option
	if name := cfg.FunctionName; name != "" {
		service := name
		if ns, err := namespace.Of(cfg.FunctionNamespace, namespace.File); err == nil && ns != "" {
			service = name + "." + ns
		}
		own = append(own, resource.WithAttributes(semconv.ServiceName(service), semconv.FaaSName(name)))
	} else if os.Getenv("OTEL_SERVICE_NAME") == "" {
		logger.Warn("opentelemetry: neither OPENFAAS_NAME nor OTEL_SERVICE_NAME is set; spans carry the SDK's unknown_service name")
	}
	// Later options win: the environment over the function's name.
	own = append(own, resource.WithFromEnv())
	res, err := resource.New(ctx, own...)
	if err != nil {
		return nil, err
	}
	return resource.Merge(resource.Default(), res)
}

func serviceName(res *resource.Resource) string {
	v, _ := res.Set().Value(semconv.ServiceNameKey)
	return v.AsString()
}

// shutdownReserve is the most shutdown keeps back from its context's
// deadline.
const shutdownReserve = 250 * time.Millisecond

// shutdown flushes the queued spans within ctx (the cleanup timeout) and
// logs the counts. A collector that is down costs the spans, not the
// drain's result: the error is logged, not returned.
func shutdown(ctx context.Context, tp *sdktrace.TracerProvider, counts *spanCounts, logger *slog.Logger) error {
	if deadline, ok := ctx.Deadline(); ok {
		// Give up a little before the watchdog's bound, so the counts are
		// logged and the drain is not reported as a hook that hung.
		reserve := min(time.Until(deadline)/10, shutdownReserve)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-reserve))
		defer cancel()
	}
	err := tp.Shutdown(ctx)
	ended, exported, failed, dropped := counts.ended.Load(), counts.exported.Load(), counts.failed.Load(), counts.dropped.Load()
	// unsent were still queued when the flush ran out of time.
	unsent := ended - exported - failed - dropped
	attrs := []any{
		slog.Int64("ended", ended), slog.Int64("exported", exported),
		slog.Int64("failed", failed), slog.Int64("dropped", dropped), slog.Int64("unsent", unsent),
	}
	if err != nil || failed > 0 || dropped > 0 || unsent > 0 {
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		logger.Warn("opentelemetry: shutdown: not every span reached the collector", attrs...)
		return nil
	}
	logger.Info("opentelemetry: shutdown: spans flushed", attrs...)
	return nil
}
