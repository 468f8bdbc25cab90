package otelwatchdog

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/inproc-go/templates/watchdog"
)

// tracerName is the instrumentation scope of the watchdog's spans.
const tracerName = "github.com/inproc-go/templates/watchdog/otelwatchdog"

// WithProvider returns a constructor for watchdog.WithCallObserver that
// traces calls with tp and extracts the caller's context with prop, for
// tests and for a main that sets OpenTelemetry up itself. Unlike New it
// reads no OTEL_* variable and sets nothing global, and its Shutdown leaves
// tp running: tp is the caller's to shut down.
func WithProvider(tp trace.TracerProvider, prop propagation.TextMapPropagator) func(watchdog.Config, *slog.Logger) (watchdog.CallObserver, error) {
	return func(watchdog.Config, *slog.Logger) (watchdog.CallObserver, error) {
		return newObserver(tp, prop, nil), nil
	}
}

// observer puts one server span around each call.
type observer struct {
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	shutdown func(context.Context) error // nil: the provider is not ours
	counts   *spanCounts                 // nil: no batch processor of ours
}

func newObserver(tp trace.TracerProvider, prop propagation.TextMapPropagator, shutdown func(context.Context) error) *observer {
	return &observer{tracer: tp.Tracer(tracerName), prop: prop, shutdown: shutdown}
}

// Start extracts the caller's span from traceparent and tracestate (and
// whatever else prop reads) and starts the call's server span under it;
// the context returned carries it, so the handler's spans are its children,
// and the call's log lines carry its trace_id and span_id.
func (o *observer) Start(r *http.Request) context.Context {
	ctx := o.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	method, known := methodOf(r.Method)
	name := method
	if !known {
		name = "HTTP" // semconv: the span name for a method it doesn't know
	}
	ctx, span := o.tracer.Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(requestAttributes(r, method, known)...))
	// The call's log lines name this span, the one its own spans hang under.
	sc := span.SpanContext()
	watchdog.SetCallSpan(ctx, sc.TraceID(), sc.SpanID())
	return ctx
}

// End records the status the caller got: 5xx, and an answer cut off, are
// errors; other statuses, 4xx included, leave the span's status unset, as
// the HTTP semantic conventions say for server spans.
func (o *observer) End(ctx context.Context, res watchdog.CallResult) {
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetAttributes(semconv.HTTPResponseStatusCode(res.Status), semconv.HTTPResponseBodySize(int(res.Bytes)))
		switch {
		case res.Aborted:
			span.SetAttributes(semconv.ErrorTypeKey.String("aborted"))
			span.SetStatus(codes.Error, "the connection was dropped before the answer was complete")
		case res.Status >= 500:
			span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(res.Status)))
			span.SetStatus(codes.Error, "")
		}
	}
	span.End(trace.WithTimestamp(res.End))
}

// Shutdown flushes the spans still queued; see provider.go.
func (o *observer) Shutdown(ctx context.Context) error {
	if o.shutdown == nil {
		return nil
	}
	return o.shutdown(ctx)
}

// WritePrometheus serves the span counts on the watchdog's metrics
// endpoint (the watchdog asks an observer that has it); nothing when the
// spans don't go through New's batch processor.
func (o *observer) WritePrometheus(w io.Writer) {
	if o.counts != nil {
		o.counts.WritePrometheus(w)
	}
}

// SetRoute names the call's span for the route a routing handler matched,
// as "METHOD route", and sets http.route. route is the path template, such
// as "/users/{id}", never the path itself (span names must stay few); for
// an http.ServeMux pattern, leave out its method and host. r is the
// handler's request, or any request with the call's context.
func SetRoute(r *http.Request, route string) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() || route == "" {
		return
	}
	method, known := methodOf(r.Method)
	if !known {
		method = "HTTP"
	}
	span.SetName(method + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route))
}

// methodOf is http.request.method: the method, or "_OTHER" for one the
// HTTP semantic conventions don't list (and false).
func methodOf(m string) (string, bool) {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m, true
	}
	return "_OTHER", false
}

// requestAttributes are the HTTP server span's request attributes that the
// semantic conventions require or recommend, given at the start so a
// sampler can read them. The query string is left out, as in the access
// log: it may hold secrets.
func requestAttributes(r *http.Request, method string, known bool) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 14)
	attrs = append(attrs,
		semconv.HTTPRequestMethodKey.String(method),
		semconv.URLPath(r.URL.Path),
		semconv.URLScheme(scheme(r)),
		semconv.FaaSTriggerHTTP,
		semconv.FaaSInvocationID(watchdog.CallID(r.Context())),
	)
	if !known {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(r.Method))
	}
	if host, port := splitHostPort(r.Host); host != "" {
		attrs = append(attrs, semconv.ServerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	peer, peerPort := splitHostPort(r.RemoteAddr)
	if peer != "" {
		attrs = append(attrs, semconv.NetworkPeerAddress(peer))
		if peerPort > 0 {
			attrs = append(attrs, semconv.NetworkPeerPort(peerPort))
		}
	}
	// The gateway and ingress controllers name the original client here.
	if client := firstForwarded(r.Header.Get("X-Forwarded-For")); client != "" {
		attrs = append(attrs, semconv.ClientAddress(client))
	} else if peer != "" {
		attrs = append(attrs, semconv.ClientAddress(peer))
	}
	if v := protocolVersion(r); v != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(v))
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	return attrs
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// protocolVersion is network.protocol.version: "1.1", "2", ...
func protocolVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1:
		return "1." + strconv.Itoa(r.ProtoMinor)
	case r.ProtoMajor > 1 && r.ProtoMinor == 0:
		return strconv.Itoa(r.ProtoMajor)
	case r.ProtoMajor > 1:
		return strconv.Itoa(r.ProtoMajor) + "." + strconv.Itoa(r.ProtoMinor)
	}
	return ""
}

// splitHostPort splits "host:port" or a bare host; port is 0 when absent
// or not a number.
func splitHostPort(hostport string) (string, int) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return strings.Trim(hostport, "[]"), 0
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return host, 0
	}
	return host, port
}

func firstForwarded(xff string) string {
	first, _, _ := strings.Cut(xff, ",")
	return strings.TrimSpace(first)
}
