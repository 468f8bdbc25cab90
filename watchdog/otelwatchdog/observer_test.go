package otelwatchdog

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

// notifyingRecorder is the SDK's SpanRecorder that also hands each ended
// span to a channel, so a test waits for the span rather than polling.
type notifyingRecorder struct {
	*tracetest.SpanRecorder
	ended chan sdktrace.ReadOnlySpan
}

func (r notifyingRecorder) OnEnd(s sdktrace.ReadOnlySpan) {
	r.SpanRecorder.OnEnd(s)
	r.ended <- s
}

// next waits for the next span to end, a server span unless child.
func (r notifyingRecorder) next(t *testing.T) sdktrace.ReadOnlySpan {
	t.Helper()
	select {
	case s := <-r.ended:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no span ended within 10s")
		return nil
	}
}

// traced serves h behind the watchdog with an in-memory tracer provider
// that samples every call.
func traced(t *testing.T, h http.Handler, env ...string) (*watchdogtest.Server, notifyingRecorder, *sdktrace.TracerProvider) {
	t.Helper()
	rec := notifyingRecorder{tracetest.NewSpanRecorder(), make(chan sdktrace.ReadOnlySpan, 64)}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	s := watchdogtest.NewWith(t, h, watchdogtest.Options{
		Env:            env,
		Watchdog:       []watchdog.Option{watchdog.WithCallObserver(WithProvider(tp, prop))},
		SkipRegistered: true,
	})
	return s, rec, tp
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value)
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func call(t *testing.T, method, url string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// TestSpanPerCall: one server span per call, named and attributed as the
// HTTP semantic conventions say, with the watchdog's call id.
func TestSpanPerCall(t *testing.T) {
	s, rec, _ := traced(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	res := call(t, "GET", s.URL+"/some/path?secret=1", "User-Agent", "test-agent", "X-Forwarded-For", "203.0.113.7, 10.0.0.1")
	span := rec.next(t)
	if span.Name() != "GET" || span.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v, want GET, server", span.Name(), span.SpanKind())
	}
	a := attrs(span)
	port := strings.TrimPrefix(s.URL, "http://127.0.0.1:")
	for key, want := range map[attribute.Key]string{
		"http.request.method":       "GET",
		"url.path":                  "/some/path",
		"url.scheme":                "http",
		"server.address":            "127.0.0.1",
		"server.port":               port,
		"network.peer.address":      "127.0.0.1",
		"client.address":            "203.0.113.7",
		"network.protocol.version":  "1.1",
		"user_agent.original":       "test-agent",
		"faas.trigger":              "http",
		"faas.invocation_id":        res.Header.Get(watchdog.CallIDHeader),
		"http.response.status_code": "200",
		"http.response.body.size":   "5",
	} {
		if got := a[key].Emit(); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	for key := range a {
		if strings.HasPrefix(string(key), "url.query") || strings.Contains(a[key].Emit(), "secret") {
			t.Errorf("%s = %q: the query string must not reach the span", key, a[key].Emit())
		}
	}
	if span.Status().Code != codes.Unset {
		t.Errorf("status %v for a 200, want unset", span.Status())
	}
	if span.Parent().IsValid() {
		t.Errorf("parent %v for a call without traceparent, want a root span", span.Parent())
	}

	call(t, "FOO", s.URL+"/")
	span = rec.next(t)
	a = attrs(span)
	if span.Name() != "HTTP" || a["http.request.method"].Emit() != "_OTHER" || a["http.request.method_original"].Emit() != "FOO" {
		t.Errorf("method FOO: span %q, method %q, original %q; want HTTP, _OTHER, FOO",
			span.Name(), a["http.request.method"].Emit(), a["http.request.method_original"].Emit())
	}
}

// TestSpanStatus: the span has the status the caller got, the watchdog's
// own answers included; 5xx and an aborted answer are errors, 4xx are not.
func TestSpanStatus(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fail":
			http.Error(w, "no", http.StatusInternalServerError)
		case "/missing":
			http.NotFound(w, r)
		case "/panic":
			panic("boom")
		case "/midpanic":
			_, _ = io.WriteString(w, "partial\n")
			w.(http.Flusher).Flush()
			panic("mid-stream")
		case "/deadline", "/leave":
			entered <- struct{}{}
			<-r.Context().Done()
		case "/hold":
			entered <- struct{}{}
			<-release
		}
	})
	s, rec, _ := traced(t, h, "max_inflight=1", "exec_timeout=5s")

	check := func(path string, status int, code codes.Code, errorType string) {
		t.Helper()
		span := rec.next(t)
		a := attrs(span)
		if a["url.path"].Emit() != path || a["http.response.status_code"].Emit() != strconv.Itoa(status) ||
			span.Status().Code != code || a["error.type"].Emit() != errorType {
			t.Errorf("span for %s: path %s, status %s, span status %v, error.type %q; want %d, %v, %q",
				path, a["url.path"].Emit(), a["http.response.status_code"].Emit(), span.Status(), a["error.type"].Emit(), status, code, errorType)
		}
	}
	call(t, "GET", s.URL+"/")
	check("/", 200, codes.Unset, "")
	call(t, "GET", s.URL+"/fail")
	check("/fail", 500, codes.Error, "500")
	call(t, "GET", s.URL+"/missing")
	check("/missing", 404, codes.Unset, "")
	call(t, "GET", s.URL+"/panic")
	check("/panic", 500, codes.Error, "500")
	if res, err := http.Get(s.URL + "/midpanic"); err == nil {
		_, _ = io.Copy(io.Discard, res.Body) // cut short by the abort
		res.Body.Close()
	}
	check("/midpanic", 200, codes.Error, "aborted")

	if res := call(t, "GET", s.URL+"/deadline", watchdog.TimeoutHeader, "50ms"); res.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("/deadline: %d, want 504", res.StatusCode)
	}
	<-entered
	check("/deadline", 504, codes.Error, "504")

	// 499: the caller leaves before any answer.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/leave", nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	<-entered
	cancel()
	<-done
	check("/leave", 499, codes.Unset, "")

	// 429: max_inflight=1 and one call holds the slot.
	held := make(chan struct{})
	go func() { defer close(held); call(t, "GET", s.URL+"/hold") }()
	<-entered
	if res := call(t, "GET", s.URL+"/"); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("second call: %d, want 429", res.StatusCode)
	}
	check("/", 429, codes.Unset, "")
	close(release)
	<-held
	check("/hold", 200, codes.Unset, "")
}

const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
)

// TestSpanParentAndChild: the call's span continues the caller's trace from
// traceparent, keeps tracestate, and is the parent of the handler's spans.
func TestSpanParentAndChild(t *testing.T) {
	var tp trace.TracerProvider
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, child := tp.Tracer("handler").Start(r.Context(), "work")
		child.End()
		SetRoute(r, "/users/{id}")
	})
	s, rec, sdk := traced(t, h)
	tp = sdk
	call(t, "GET", s.URL+"/users/7",
		"traceparent", "00-"+callerTrace+"-"+callerSpan+"-01",
		"tracestate", "congo=t61rcWkgMzE")
	child, server := rec.next(t), rec.next(t)
	if server.Parent().TraceID().String() != callerTrace || server.Parent().SpanID().String() != callerSpan || !server.Parent().IsRemote() {
		t.Errorf("server span's parent %v, want the caller's %s-%s, remote", server.Parent(), callerTrace, callerSpan)
	}
	if server.SpanContext().TraceID().String() != callerTrace {
		t.Errorf("server span in trace %s, want the caller's %s", server.SpanContext().TraceID(), callerTrace)
	}
	if got := server.SpanContext().TraceState().String(); got != "congo=t61rcWkgMzE" {
		t.Errorf("tracestate %q, want the caller's", got)
	}
	if child.Name() != "work" || child.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("handler's span %q has parent %s, want work under the server span %s", child.Name(), child.Parent().SpanID(), server.SpanContext().SpanID())
	}
	if server.Name() != "GET /users/{id}" || attrs(server)["http.route"].Emit() != "/users/{id}" {
		t.Errorf("after SetRoute: span %q, http.route %q; want GET /users/{id}", server.Name(), attrs(server)["http.route"].Emit())
	}

	// A malformed traceparent is a call without one: a new trace.
	call(t, "GET", s.URL+"/", "traceparent", "00-"+strings.ToUpper(callerTrace)+"-"+callerSpan+"-01")
	<-rec.ended // the handler's span
	if span := rec.next(t); span.Parent().IsValid() || span.SpanContext().TraceID().String() == strings.ToLower(callerTrace) {
		t.Errorf("malformed traceparent: parent %v, want a root span in a new trace", span.Parent())
	}
}

// TestLogsCarryTheServerSpan: every line logged for a call, the access-log
// line and the handler's Logger and InfoContext lines, carries the server
// span's trace id and span id, not the caller's span; a call without
// traceparent logs the new trace the span began. The span's parent is still
// the caller's, and TraceContext still what the caller sent.
func TestLogsCarryTheServerSpan(t *testing.T) {
	callerParent := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		tc, _ := watchdog.TraceContext(ctx)
		callerParent <- tc.ParentID()
		watchdog.Logger(ctx).Info("via Logger")
		watchdog.Logger(ctx).InfoContext(ctx, "via InfoContext")
	})
	s, rec, _ := traced(t, h)
	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"with-traceparent", []string{"traceparent", "00-" + callerTrace + "-" + callerSpan + "-01"}},
		{"without-traceparent", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call(t, "POST", s.URL+"/", append([]string{watchdog.CallIDHeader, tc.name}, tc.header...)...)
			span := rec.next(t)
			traceID, spanID := span.SpanContext().TraceID().String(), span.SpanContext().SpanID().String()
			if tc.header != nil {
				if traceID != callerTrace || span.Parent().SpanID().String() != callerSpan {
					t.Errorf("span %s-%s under %s, want the caller's trace %s under its span %s", traceID, spanID, span.Parent().SpanID(), callerTrace, callerSpan)
				}
				if got := <-callerParent; got != callerSpan {
					t.Errorf("TraceContext's ParentID %q, want the caller's %s", got, callerSpan)
				}
			} else {
				if span.Parent().IsValid() {
					t.Errorf("span's parent %v for a call without traceparent, want none", span.Parent())
				}
				<-callerParent
			}
			lines := logLines(s.Logs(), tc.name)
			if len(lines) != 3 {
				t.Fatalf("%d lines for call %s, want 3 (the handler's two and the access log):\n%s", len(lines), tc.name, s.Logs())
			}
			for _, line := range lines {
				if !strings.Contains(line, " trace_id="+traceID+" ") || !strings.Contains(line, " span_id="+spanID) {
					t.Errorf("line without the server span's trace_id=%s span_id=%s:\n%s", traceID, spanID, line)
				}
			}
		})
	}
}

// logLines are the lines the watchdog's text log has for call id.
func logLines(logs, id string) []string {
	var lines []string
	for line := range strings.Lines(logs) {
		line = strings.TrimSuffix(line, "\n")
		if strings.Contains(line+" ", " call_id="+id+" ") {
			lines = append(lines, line)
		}
	}
	return lines
}
