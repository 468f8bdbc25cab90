package otelwatchdog

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

// receiver is an OTLP/HTTP collector on 127.0.0.1: it decodes each
// export's protobuf and keeps the spans with their service.name.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []receivedSpan
	bad   []string // requests that were not a valid OTLP/HTTP export
}

type receivedSpan struct {
	service string
	span    *tracepb.Span
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		rc.bad = append(rc.bad, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		http.Error(w, "not an OTLP/HTTP trace export", http.StatusBadRequest)
		return
	}
	for _, rs := range req.ResourceSpans {
		var service string
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				rc.spans = append(rc.spans, receivedSpan{service, s})
			}
		}
	}
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (rc *receiver) received() ([]receivedSpan, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receivedSpan(nil), rc.spans...), append([]string(nil), rc.bad...)
}

// resetGlobals puts back the otel globals New replaces.
func resetGlobals(t *testing.T) {
	tp, prop := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() {
		if otel.GetTracerProvider() != tp {
			otel.SetTracerProvider(tp)
		}
		if otel.GetTextMapPropagator() != prop {
			otel.SetTextMapPropagator(prop)
		}
	})
}

// servedWithNew serves h with the template's option, New, configured by
// the process environment (t.Setenv) and the watchdog's env.
func servedWithNew(t *testing.T, h http.Handler, cleanup time.Duration, env ...string) *watchdogtest.Server {
	t.Helper()
	resetGlobals(t)
	return watchdogtest.NewWith(t, h, watchdogtest.Options{
		Env:            env,
		Watchdog:       []watchdog.Option{watchdog.WithCallObserver(New), watchdog.WithCleanupTimeout(cleanup)},
		SkipRegistered: true,
	})
}

// childSpan is a handler that makes a span of its own through otel's
// global tracer, as a function would.
var childSpan = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, span := otel.Tracer("my-function").Start(r.Context(), "work")
	span.End()
	_, _ = io.WriteString(w, "ok")
})

// TestNewExportsOnDrain: with New, spans leave over OTLP/HTTP to
// OTEL_EXPORTER_OTLP_ENDPOINT, under the service name <name>.<namespace>;
// those still queued when SIGTERM comes are flushed by the drain.
func TestNewExportsOnDrain(t *testing.T) {
	rc := newReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000") // nothing leaves before the drain
	s := servedWithNew(t, childSpan, 5*time.Second, "OPENFAAS_NAME=hello", "OPENFAAS_NAMESPACE=openfaas-fn")
	for range 3 {
		if res := call(t, "POST", s.URL+"/"); res.StatusCode != http.StatusOK {
			t.Fatalf("call: %d", res.StatusCode)
		}
	}
	if spans, bad := rc.received(); len(spans)+len(bad) != 0 {
		t.Fatalf("before the drain the collector got %d spans and %v; want nothing yet (OTEL_BSP_SCHEDULE_DELAY)", len(spans), bad)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("drain: %v", err)
	}
	spans, bad := rc.received()
	if len(bad) != 0 {
		t.Errorf("bad requests at the collector: %v", bad)
	}
	var servers, children int
	parents := map[string]bool{}
	for _, rs := range spans {
		if rs.service != "hello.openfaas-fn" {
			t.Errorf("span %q from service %q, want hello.openfaas-fn", rs.span.Name, rs.service)
		}
		switch rs.span.Kind {
		case tracepb.Span_SPAN_KIND_SERVER:
			servers++
			parents[string(rs.span.SpanId)] = true
		default:
			children++
		}
	}
	for _, rs := range spans {
		if rs.span.Kind != tracepb.Span_SPAN_KIND_SERVER && !parents[string(rs.span.ParentSpanId)] {
			t.Errorf("handler span %q is not a child of a call's span", rs.span.Name)
		}
	}
	if servers != 3 || children != 3 {
		t.Errorf("collector got %d server and %d handler spans, want 3 and 3", servers, children)
	}
	if !strings.Contains(s.Logs(), "spans flushed") || !strings.Contains(s.Logs(), "exported=6") {
		t.Errorf("no shutdown line with exported=6 in the log:\n%s", s.Logs())
	}
}

// closedPort is an address on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestCollectorDownOrSlow: a collector that refuses connections, or one
// that accepts and never answers, neither delays the start past a second
// nor fails or slows a call; the drain gives up on the spans within the
// cleanup timeout, logs what was lost, and still exits clean.
func TestCollectorDownOrSlow(t *testing.T) {
	stop := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(stop) }) // before Close, which waits for the hung handlers
	for _, tc := range []struct{ name, endpoint, protocol string }{
		{"down", "http://" + closedPort(t), ""},
		{"down-grpc", "http://" + closedPort(t), "grpc"},
		{"slow", hung.URL, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", tc.endpoint)
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", tc.protocol)
			t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "1")
			t.Setenv("OTEL_BSP_MAX_QUEUE_SIZE", "2")
			t.Setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1")
			const cleanup = 500 * time.Millisecond
			start := time.Now()
			s := servedWithNew(t, childSpan, cleanup, "OPENFAAS_NAME=hello", "OPENFAAS_NAMESPACE=openfaas-fn")
			if d := time.Since(start); d > time.Second {
				t.Errorf("start took %s with the collector %s, want under 1s", d, tc.name)
			}
			for i := range 20 {
				callStart := time.Now()
				if res := call(t, "GET", s.URL+"/"); res.StatusCode != http.StatusOK {
					t.Fatalf("call %d: %d", i, res.StatusCode)
				}
				if d := time.Since(callStart); d > time.Second {
					t.Errorf("call %d took %s with the collector %s", i, d, tc.name)
				}
			}
			drainStart := time.Now()
			if err := s.Close(); err != nil {
				t.Errorf("drain with the collector %s: %v, want clean", tc.name, err)
			}
			if d := time.Since(drainStart); d > cleanup+2*time.Second {
				t.Errorf("drain took %s, want about the cleanup timeout (%s) at most", d, cleanup)
			}
			logs := s.Logs()
			if !strings.Contains(logs, "not every span reached the collector") || !strings.Contains(logs, "ended=40") || strings.Contains(logs, "dropped=0 ") {
				t.Errorf("want a shutdown line counting 40 spans ended and some dropped:\n%s", logs)
			}
		})
	}
}

// TestSamplerFromEnv: OTEL_TRACES_SAMPLER is the SDK's to read; always_off
// exports nothing, and a caller's unsampled trace stays unsampled under the
// default parentbased_always_on.
func TestSamplerFromEnv(t *testing.T) {
	for _, tc := range []struct {
		sampler string
		header  []string
		want    int
	}{
		{"always_off", nil, 0},
		{"", []string{"traceparent", "00-" + callerTrace + "-" + callerSpan + "-00"}, 0},
		{"", []string{"traceparent", "00-" + callerTrace + "-" + callerSpan + "-01"}, 2},
		{"traceidratio", nil, 2}, // OTEL_TRACES_SAMPLER_ARG defaults to 1
	} {
		t.Run(tc.sampler+strings.Join(tc.header, "="), func(t *testing.T) {
			rc := newReceiver(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
			t.Setenv("OTEL_TRACES_SAMPLER", tc.sampler)
			s := servedWithNew(t, childSpan, 5*time.Second, "OPENFAAS_NAME=hello", "OPENFAAS_NAMESPACE=openfaas-fn")
			call(t, "GET", s.URL+"/", tc.header...)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if spans, _ := rc.received(); len(spans) != tc.want {
				t.Errorf("OTEL_TRACES_SAMPLER=%q, headers %v: collector got %d spans, want %d", tc.sampler, tc.header, len(spans), tc.want)
			}
		})
	}
}

// TestServiceName: <name>.<namespace> by default, the name alone without a
// namespace, and OTEL_SERVICE_NAME over both.
func TestServiceName(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name, namespace, env, want string
	}{
		{"hello", "openfaas-fn", "", "hello.openfaas-fn"},
		{"hello", "openfaas-fn", "custom", "custom"},
		{"", "", "custom", "custom"},
		{"", "", "", "unknown_service:"},
	} {
		t.Setenv("OTEL_SERVICE_NAME", tc.env)
		res, err := newResource(context.Background(), watchdog.Config{FunctionName: tc.name, FunctionNamespace: tc.namespace}, logger)
		if err != nil {
			t.Fatal(err)
		}
		if got := serviceName(res); !strings.HasPrefix(got, tc.want) || (!strings.HasSuffix(tc.want, ":") && got != tc.want) {
			t.Errorf("OPENFAAS_NAME=%q OPENFAAS_NAMESPACE=%q OTEL_SERVICE_NAME=%q: service.name %q, want %q", tc.name, tc.namespace, tc.env, got, tc.want)
		}
	}
}

// TestEnvRefused: what the SDK would only log and ignore stops the start,
// naming the variable and what is accepted.
func TestEnvRefused(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "want http/protobuf or grpc"},
		{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{"OTEL_TRACES_EXPORTER", "zipkin", "want otlp or none"},
		{"OTEL_TRACES_SAMPLER", "sometimes", "want always_on"},
		{"OTEL_SDK_DISABLED", "maybe", "want true or false"},
		{"OTEL_PROPAGATORS", "b3", "want a comma-separated list of tracecontext and baggage, or none"},
		{"OTEL_BSP_MAX_QUEUE_SIZE", "lots", "want a whole number of spans, 1 or more"},
		{"OTEL_BSP_MAX_QUEUE_SIZE", "0", "want a whole number of spans, 1 or more"},
	} {
		env := map[string]string{tc.name: tc.value}
		if _, err := readEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%s: %v, want an error naming it with %q", tc.name, tc.value, err, tc.want)
		}
	}
	env := map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}
	if _, err := readEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "OTEL_TRACES_SAMPLER_ARG") {
		t.Errorf("a ratio of 2: %v, want refused", err)
	}
	for _, ok := range []map[string]string{
		{},
		{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"},
		{"OTEL_TRACES_EXPORTER": "none", "OTEL_SDK_DISABLED": "false"},
	} {
		if _, err := readEnv(func(k string) string { return ok[k] }); err != nil {
			t.Errorf("%v refused: %v", ok, err)
		}
	}

	// Through the watchdog: a bad configuration, not a function serving
	// without its spans.
	resetGlobals(t)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
	_, err := watchdog.New(http.NotFoundHandler(), watchdog.WithConfig(watchdog.DefaultConfig()), watchdog.WithLogger(slog.New(slog.DiscardHandler)), watchdog.WithCallObserver(New))
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_PROTOCOL") {
		t.Errorf("watchdog.New with OTEL_EXPORTER_OTLP_PROTOCOL=http/json: %v", err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "")
	t.Setenv("OTEL_PROPAGATORS", "jaeger")
	_, err = watchdog.New(http.NotFoundHandler(), watchdog.WithConfig(watchdog.DefaultConfig()), watchdog.WithLogger(slog.New(slog.DiscardHandler)), watchdog.WithCallObserver(New))
	if err == nil || !strings.Contains(err.Error(), "OTEL_PROPAGATORS") {
		t.Errorf("watchdog.New with OTEL_PROPAGATORS=jaeger: %v", err)
	}
}

// TestDisabled: OTEL_SDK_DISABLED=true records nothing, yet the handler's
// context still carries the caller's trace for its outgoing calls.
func TestDisabled(t *testing.T) {
	rc := newReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
	t.Setenv("OTEL_SDK_DISABLED", "true")
	got := make(chan string, 1)
	s := servedWithNew(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := http.Header{}
		otel.GetTextMapPropagator().Inject(r.Context(), propagation.HeaderCarrier(h))
		got <- h.Get("traceparent")
	}), 5*time.Second)
	call(t, "GET", s.URL+"/", "traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	if tp := <-got; !strings.Contains(tp, callerTrace) {
		t.Errorf("outgoing traceparent %q, want the caller's trace %s", tp, callerTrace)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if spans, _ := rc.received(); len(spans) != 0 {
		t.Errorf("collector got %d spans with OTEL_SDK_DISABLED=true", len(spans))
	}
}

// grpcReceiver is an OTLP/gRPC collector on 127.0.0.1.
type grpcReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans int
}

func (g *grpcReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			g.spans += len(ss.Spans)
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// TestNewExportsOverGRPC: OTEL_EXPORTER_OTLP_PROTOCOL=grpc sends the spans
// over OTLP/gRPC instead.
func TestNewExportsOverGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	rc := &grpcReceiver{}
	coltracepb.RegisterTraceServiceServer(srv, rc)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+ln.Addr().String())
	s := servedWithNew(t, childSpan, 5*time.Second, "OPENFAAS_NAME=hello", "OPENFAAS_NAMESPACE=openfaas-fn")
	call(t, "GET", s.URL+"/")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.spans != 2 {
		t.Errorf("the gRPC collector got %d spans, want 2 (the call's and the handler's)", rc.spans)
	}
}

// TestPropagatorsParsed: OTEL_PROPAGATORS as the specification reads it:
// a comma-separated, case-insensitive list, tracecontext,baggage when
// unset, none for neither; the propagators this build doesn't link, and
// names it doesn't know, are refused naming what is accepted.
func TestPropagatorsParsed(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    []string
		wantErr string // empty: accepted
	}{
		{"", []string{"tracecontext", "baggage"}, ""},
		{"  ", []string{"tracecontext", "baggage"}, ""},
		{"tracecontext", []string{"tracecontext"}, ""},
		{"baggage", []string{"baggage"}, ""},
		{"baggage,tracecontext", []string{"baggage", "tracecontext"}, ""},
		{" TraceContext , BAGGAGE ", []string{"tracecontext", "baggage"}, ""},
		{"tracecontext,tracecontext", []string{"tracecontext"}, ""},
		{"none", []string{}, ""},
		{"NONE", []string{}, ""},
		{"b3", nil, "b3 is not linked into this build"},
		{"tracecontext,b3multi", nil, "b3multi is not linked into this build"},
		{"jaeger", nil, "jaeger is not linked"},
		{"xray", nil, "xray is not linked"},
		{"ottrace", nil, "ottrace is not linked"},
		{"w3c", nil, `unknown propagator "w3c"`},
		{"tracecontext,", nil, "an empty name"},
		{"none,tracecontext", nil, "cannot come with others"},
	} {
		env := map[string]string{"OTEL_PROPAGATORS": tc.value}
		got, err := readEnv(func(k string) string { return env[k] })
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "OTEL_PROPAGATORS") ||
				!strings.Contains(err.Error(), "want a comma-separated list of tracecontext and baggage, or none") {
				t.Errorf("OTEL_PROPAGATORS=%q: %v, want an error with %q naming the variable and what is accepted", tc.value, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got.propagators, tc.want) {
			t.Errorf("OTEL_PROPAGATORS=%q: %q, %v; want %q", tc.value, got.propagators, err, tc.want)
		}
	}
}

// TestPropagatorsFromEnv: the propagators New installs are the ones named,
// for the call's span (its parent from traceparent only with tracecontext)
// and for what the handler sends on.
func TestPropagatorsFromEnv(t *testing.T) {
	for _, tc := range []struct {
		value             string
		parent, baggageOn bool
	}{
		{"", true, true},
		{"tracecontext", true, false},
		{"baggage", false, true},
		{"none", false, false},
	} {
		t.Run("OTEL_PROPAGATORS="+tc.value, func(t *testing.T) {
			rc := newReceiver(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
			t.Setenv("OTEL_PROPAGATORS", tc.value)
			out := make(chan http.Header, 1)
			s := servedWithNew(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := http.Header{}
				otel.GetTextMapPropagator().Inject(r.Context(), propagation.HeaderCarrier(h))
				out <- h
			}), 5*time.Second, "OPENFAAS_NAME=hello")
			call(t, "GET", s.URL+"/", "traceparent", "00-"+callerTrace+"-"+callerSpan+"-01", "baggage", "tenant=acme")
			h := <-out
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			spans, _ := rc.received()
			if len(spans) != 1 {
				t.Fatalf("collector got %d spans, want the call's", len(spans))
			}
			span := spans[0].span
			continued := hex.EncodeToString(span.TraceId) == callerTrace && hex.EncodeToString(span.ParentSpanId) == callerSpan
			if continued != tc.parent {
				t.Errorf("span in trace %x under %x: continues the caller's = %v, want %v", span.TraceId, span.ParentSpanId, continued, tc.parent)
			}
			if sent := strings.Contains(h.Get("traceparent"), hex.EncodeToString(span.TraceId)); sent != tc.parent {
				t.Errorf("the handler sends traceparent %q: want one (%v) only with tracecontext", h.Get("traceparent"), tc.parent)
			}
			if got := h.Get("baggage") == "tenant=acme"; got != tc.baggageOn {
				t.Errorf("the handler sends baggage %q, want the caller's (%v) only with baggage", h.Get("baggage"), tc.baggageOn)
			}
		})
	}
}
