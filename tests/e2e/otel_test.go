package e2e

import (
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/inproc-go/templates/tests/internal/container"
)

// TestOpenTelemetry builds a template with the otel build tag and runs it
// exporting OTLP/HTTP to a receiver on 127.0.0.1 that decodes the protobuf
// requests. The batch delay is an hour, so every span reaches the receiver
// through the drain's flush after SIGTERM. The container shares the host's
// network so it can reach the receiver.
func TestOpenTelemetry(t *testing.T) {
	requireE2E(t)
	for _, lang := range []string{"golang-middleware-inproc", "golang-http-inproc"} {
		t.Run(lang, func(t *testing.T) {
			image := "localhost/inproc-e2e/otel-" + lang + ":latest"
			container.BuildFunction(t, container.Function{
				Lang: lang, Handler: filepath.Join("testdata", "probe", lang), Tag: image,
				BuildArgs: []string{"GOFLAGS=-tags=otel"},
			})
			rc := startOTLPReceiver(t)

			c, url := runOnHostNetwork(t, image, "OPENFAAS_NAME=echo", "OPENFAAS_NAMESPACE=openfaas-fn",
				"OTEL_EXPORTER_OTLP_ENDPOINT="+rc.url, "OTEL_BSP_SCHEDULE_DELAY=3600000")

			const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
			expect(t, do(t, http.MethodPost, url+"/", "hi", map[string]string{
				"traceparent": "00-" + callerTrace + "-" + callerSpan + "-01"}), http.StatusOK, "hi")
			if res := do(t, http.MethodGet, url+"/panic", "", nil); res.status != http.StatusInternalServerError {
				t.Errorf("/panic: %d, want 500", res.status)
			}
			if n := len(rc.received()); n != 0 {
				t.Errorf("the receiver got %d spans before the drain, want none (batch delay of an hour)", n)
			}
			if code := c.Stop(t, "TERM"); code != 0 {
				t.Fatalf("exit code %d after SIGTERM, want 0; logs:\n%s", code, c.Logs())
			}

			spans := rc.received()
			byPath := map[string]receivedSpan{}
			for _, s := range spans {
				if s.service != "echo.openfaas-fn" {
					t.Errorf("span %q from service %q, want echo.openfaas-fn", s.span.Name, s.service)
				}
				byPath[spanAttr(s.span, "url.path")] = s
			}
			if len(spans) != 2 {
				t.Fatalf("the receiver got %d spans, want 2 (logs:\n%s)", len(spans), c.Logs())
			}
			root := byPath["/"].span
			if root == nil || root.Kind != tracepb.Span_SPAN_KIND_SERVER || root.Name != "POST" ||
				hex.EncodeToString(root.TraceId) != callerTrace || hex.EncodeToString(root.ParentSpanId) != callerSpan ||
				spanAttr(root, "http.response.status_code") != "200" {
				t.Errorf("span for POST /: %v; want a server span POST under the caller's %s-%s, status 200", root, callerTrace, callerSpan)
			}
			panicked := byPath["/panic"].span
			if panicked == nil || spanAttr(panicked, "http.response.status_code") != "500" ||
				panicked.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR {
				t.Errorf("span for /panic: %v; want status 500 and an error status", panicked)
			}
			if !strings.Contains(c.Logs(), "spans flushed") {
				t.Errorf("no flush line in the logs:\n%s", c.Logs())
			}
		})
	}
}

type otlpReceiver struct {
	url   string
	mu    sync.Mutex
	spans []receivedSpan
}

type receivedSpan struct {
	service string
	span    *tracepb.Span
}

// startOTLPReceiver serves OTLP/HTTP's /v1/traces on 127.0.0.1, decoding
// each export with the OTLP protobuf definitions.
func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rc := &otlpReceiver{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &req)
		}
		if err != nil || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("receiver: %s %s (%s): not an OTLP/HTTP trace export: %v", r.Method, r.URL.Path, r.Header.Get("Content-Type"), err)
			http.Error(w, "not an OTLP/HTTP trace export", http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
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
		rc.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

func (rc *otlpReceiver) received() []receivedSpan {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receivedSpan(nil), rc.spans...)
}

// spanAttr is the span's attribute key as text ("" when absent).
func spanAttr(s *tracepb.Span, key string) string {
	if s == nil {
		return ""
	}
	for _, kv := range s.Attributes {
		if kv.Key != key {
			continue
		}
		if v, ok := kv.GetValue().GetValue().(*commonpb.AnyValue_IntValue); ok {
			return strconv.FormatInt(v.IntValue, 10)
		}
		return kv.GetValue().GetStringValue()
	}
	return ""
}
