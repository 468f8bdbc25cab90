package watchdog

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	validTraceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
	validParentID = "00f067aa0ba902b7"
	validTP       = "00-" + validTraceID + "-" + validParentID + "-01"
)

func TestParseTraceparent(t *testing.T) {
	type want struct {
		version byte
		flags   byte
	}
	for _, tc := range []struct {
		name, in string
		ok       bool
		want     want
	}{
		{"valid sampled", validTP, true, want{0, 1}},
		{"valid not sampled", "00-" + validTraceID + "-" + validParentID + "-00", true, want{0, 0}},
		{"valid unknown flags", "00-" + validTraceID + "-" + validParentID + "-09", true, want{0, 9}},
		{"future version", "cc-" + validTraceID + "-" + validParentID + "-01", true, want{0xcc, 1}},
		{"future version with extra fields", "cc-" + validTraceID + "-" + validParentID + "-01-what-the-future-will-be-like", true, want{0xcc, 1}},
		{"future version, one empty extra field", "01-" + validTraceID + "-" + validParentID + "-01-", true, want{1, 1}},

		{"absent", "", false, want{}},
		{"too short", validTP[:54], false, want{}},
		{"version ff", "ff-" + validTraceID + "-" + validParentID + "-01", false, want{}},
		{"version not hex", "0x-" + validTraceID + "-" + validParentID + "-01", false, want{}},
		{"version upper-case", "AB-" + validTraceID + "-" + validParentID + "-01", false, want{}},
		{"version 00 with extra fields", validTP + "-what-the-future-will-be-like", false, want{}},
		{"version 00 with a trailing dash", validTP + "-", false, want{}},
		{"future version, extra without a dash", "cc-" + validTraceID + "-" + validParentID + "-01.what-the-future-will-be-like", false, want{}},
		{"trace-id all zeros", "00-" + strings.Repeat("0", 32) + "-" + validParentID + "-01", false, want{}},
		{"trace-id not hex", "00-" + validTraceID[:31] + "g-" + validParentID + "-01", false, want{}},
		{"trace-id upper-case", "00-" + strings.ToUpper(validTraceID) + "-" + validParentID + "-01", false, want{}},
		{"trace-id short", "00-" + validTraceID[:31] + "-" + validParentID + "-01x", false, want{}},
		{"parent-id all zeros", "00-" + validTraceID + "-" + strings.Repeat("0", 16) + "-01", false, want{}},
		{"parent-id not hex", "00-" + validTraceID + "-" + validParentID[:15] + "z-01", false, want{}},
		{"parent-id upper-case", "00-" + validTraceID + "-00F067AA0BA902B7-01", false, want{}},
		{"flags not hex", "00-" + validTraceID + "-" + validParentID + "-0g", false, want{}},
		{"flags upper-case", "00-" + validTraceID + "-" + validParentID + "-0A", false, want{}},
		{"flags one digit", "00-" + validTraceID + "-" + validParentID + "-1", false, want{}},
		{"separator not a dash", "00_" + validTraceID + "-" + validParentID + "-01", false, want{}},
		{"dash missing", "00" + validTraceID + "-" + validParentID + "-01x", false, want{}},
		{"spaces inside", "00- " + validTraceID[1:] + "-" + validParentID + "-01", false, want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, ok := parseTraceparent(tc.in)
			if ok != tc.ok {
				t.Fatalf("parseTraceparent(%q) ok = %v, want %v", tc.in, ok, tc.ok)
			}
			if !ok {
				if tp != (TraceParent{}) {
					t.Errorf("rejected %q but returned %+v", tc.in, tp)
				}
				return
			}
			if tp.Version() != tc.want.version || tp.Flags() != tc.want.flags || tp.Sampled() != (tc.want.flags&1 == 1) {
				t.Errorf("%q: version %x flags %x sampled %v, want %x %x", tc.in, tp.Version(), tp.Flags(), tp.Sampled(), tc.want.version, tc.want.flags)
			}
			if tp.TraceID() != validTraceID || tp.ParentID() != validParentID {
				t.Errorf("%q: trace-id %q parent-id %q", tc.in, tp.TraceID(), tp.ParentID())
			}
		})
	}
}

func TestTraceFromHeaders(t *testing.T) {
	for _, tc := range []struct {
		name         string
		header       http.Header
		ok           bool
		wantTraceID  string
		wantState    string
		wantParentID string
	}{
		{"absent", http.Header{}, false, "", "", ""},
		{"alone", http.Header{"Traceparent": {validTP}}, true, validTraceID, "", validParentID},
		{"with tracestate", http.Header{"Traceparent": {validTP}, "Tracestate": {"congo=t61rcWkgMzE"}}, true, validTraceID, "congo=t61rcWkgMzE", validParentID},
		{"tracestate in two headers", http.Header{"Traceparent": {validTP}, "Tracestate": {"congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7"}}, true, validTraceID, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", validParentID},
		{"two traceparents", http.Header{"Traceparent": {validTP, validTP}}, false, "", "", ""},
		{"malformed drops tracestate", http.Header{"Traceparent": {strings.ToUpper(validTP)}, "Tracestate": {"congo=t61rcWkgMzE"}}, false, "", "", ""},
		{"tracestate alone", http.Header{"Tracestate": {"congo=t61rcWkgMzE"}}, false, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := traceFrom(tc.header)
			if ok := tp.value != ""; ok != tc.ok {
				t.Fatalf("valid = %v, want %v", ok, tc.ok)
			}
			if tp.TraceID() != tc.wantTraceID || tp.ParentID() != tc.wantParentID || tp.TraceState() != tc.wantState {
				t.Errorf("got trace-id %q parent-id %q tracestate %q", tp.TraceID(), tp.ParentID(), tp.TraceState())
			}
		})
	}
	if _, ok := TraceContext(context.Background()); ok {
		t.Error("TraceContext outside a call reports one")
	}
	if _, ok := TraceContext(nil); ok { //nolint:staticcheck // a nil ctx must not panic
		t.Error("TraceContext(nil) reports one")
	}
}

// traceparentRE is the spec's grammar, as an independent check on the parser.
var traceparentRE = regexp.MustCompile(`(?s)^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$`)

func FuzzParseTraceparent(f *testing.F) {
	f.Add(validTP)
	f.Add("cc-" + validTraceID + "-" + validParentID + "-01-future")
	f.Add(strings.ToUpper(validTP))
	f.Fuzz(func(t *testing.T, s string) {
		tp, ok := parseTraceparent(s)
		m := traceparentRE.FindStringSubmatch(s)
		want := m != nil && m[1] != "ff" &&
			m[2] != strings.Repeat("0", 32) && m[3] != strings.Repeat("0", 16) &&
			(m[5] == "" || m[1] != "00")
		if ok != want {
			t.Fatalf("parseTraceparent(%q) ok = %v, the grammar says %v", s, ok, want)
		}
		if !ok {
			return
		}
		if tp.TraceID() != m[2] || tp.ParentID() != m[3] || tp.TraceState() != "" {
			t.Fatalf("%q: trace-id %q parent-id %q", s, tp.TraceID(), tp.ParentID())
		}
		version, _ := strconv.ParseUint(m[1], 16, 8)
		flags, _ := strconv.ParseUint(m[4], 16, 8)
		if uint64(tp.Version()) != version || uint64(tp.Flags()) != flags {
			t.Fatalf("%q: version %x flags %x", s, tp.Version(), tp.Flags())
		}
	})
}

// A call with a traceparent has its ids on every line logged for it and its
// context in the handler's; one without has neither, and its call id works
// as before.
func TestTraceIDsInLogs(t *testing.T) {
	for _, exec := range []time.Duration{0, 5 * time.Second} {
		t.Run("exec_timeout="+exec.String(), func(t *testing.T) {
			var srv *Server
			seen := make(chan TraceParent, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx := r.Context()
				tp, ok := TraceContext(ctx)
				if ok != (tp.TraceID() != "") {
					t.Errorf("TraceContext ok = %v with %+v", ok, tp)
				}
				seen <- tp
				Logger(ctx).Info("via Logger")
				Logger(ctx).InfoContext(ctx, "via Logger InfoContext")
				srv.Logger().InfoContext(ctx, "via Server.Logger")
			})
			cfg := testConfig(t)
			cfg.ExecTimeout = exec
			ts := newTestServer(t, cfg, h)
			srv = ts.srv
			ts.serve()
			msgs := []string{"call", "via Logger", "via Logger InfoContext", "via Server.Logger"}

			ts.get("/", CallIDHeader, "traced", "Traceparent", validTP, "Tracestate", "congo=t61rcWkgMzE")
			tp := <-seen
			if tp.TraceID() != validTraceID || tp.ParentID() != validParentID || !tp.Sampled() || tp.Version() != 0 || tp.TraceState() != "congo=t61rcWkgMzE" {
				t.Errorf("the handler's TraceContext: %q %q sampled=%v version=%d state=%q", tp.TraceID(), tp.ParentID(), tp.Sampled(), tp.Version(), tp.TraceState())
			}
			ts.get("/", CallIDHeader, "untraced", "Traceparent", strings.ToUpper(validTP), "Tracestate", "congo=t61rcWkgMzE")
			if tp := <-seen; tp != (TraceParent{}) {
				t.Errorf("a malformed traceparent reached the handler: %+v", tp)
			}

			for _, rec := range ts.logs.records(t) {
				msg, _ := rec["msg"].(string)
				if !slices.Contains(msgs, msg) {
					continue
				}
				line, _ := json.Marshal(rec)
				switch rec["call_id"] {
				case "traced":
					if rec["trace_id"] != validTraceID || rec["span_id"] != validParentID {
						t.Errorf("a traced call's line lacks its ids: %s", line)
					}
				case "untraced":
					if _, ok := rec["trace_id"]; ok {
						t.Errorf("a call without a valid traceparent logged a trace_id: %s", line)
					}
					if _, ok := rec["span_id"]; ok {
						t.Errorf("a call without a valid traceparent logged a span_id: %s", line)
					}
				default:
					t.Errorf("a line without the call's id: %s", line)
				}
			}
			for _, msg := range msgs {
				if n := len(ts.logs.withMsg(t, msg)); n != 2 {
					t.Errorf("%d %q lines, want 2 (one per call):\n%s", n, msg, ts.logs)
				}
			}
			if n := strings.Count(ts.logs.String(), `"trace_id"`); n != len(msgs) {
				t.Errorf("trace_id logged %d times, want %d (once per line of the traced call):\n%s", n, len(msgs), ts.logs)
			}
		})
	}
}

// spanObserver names a span of its own for each call, as otelwatchdog's
// does, and hands SetCallSpan's answer to a channel.
type spanObserver struct {
	traceID [16]byte
	spanID  [8]byte
	set     chan bool
}

func (o spanObserver) Start(r *http.Request) context.Context {
	o.set <- SetCallSpan(r.Context(), o.traceID, o.spanID)
	return r.Context()
}
func (spanObserver) End(context.Context, CallResult) {}
func (spanObserver) Shutdown(context.Context) error  { return nil }

// Once an observer names its span, every line of the call carries that
// span's ids, with or without a traceparent, while TraceContext still gives
// what the caller sent; CallSpan gives what the lines carry.
func TestSetCallSpanInLogs(t *testing.T) {
	const ownTrace, ownSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	o := spanObserver{set: make(chan bool, 4)}
	copy(o.traceID[:], mustHex(t, ownTrace))
	copy(o.spanID[:], mustHex(t, ownSpan))
	type seen struct {
		tp              TraceParent
		traceID, spanID string
	}
	seenc := make(chan seen, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		tp, _ := TraceContext(ctx)
		traceID, spanID := CallSpan(ctx)
		seenc <- seen{tp, traceID, spanID}
		Logger(ctx).Info("via Logger")
		Logger(ctx).InfoContext(ctx, "via Logger InfoContext")
	})
	ts := newTestServer(t, testConfig(t), h,
		WithCallObserver(func(Config, *slog.Logger) (CallObserver, error) { return o, nil })).serve()

	for _, name := range []string{"with-parent", "without"} {
		header := []string{CallIDHeader, name}
		if name == "with-parent" {
			header = append(header, "Traceparent", validTP)
		}
		ts.get("/", header...)
		if !<-o.set {
			t.Errorf("%s: SetCallSpan in Start returned false", name)
		}
		s := <-seenc
		if s.traceID != ownTrace || s.spanID != ownSpan {
			t.Errorf("%s: CallSpan = %s %s, want the observer's %s %s", name, s.traceID, s.spanID, ownTrace, ownSpan)
		}
		if wantCaller := name == "with-parent"; (s.tp.TraceID() == validTraceID && s.tp.ParentID() == validParentID) != wantCaller {
			t.Errorf("%s: TraceContext = %q %q, want the caller's traceparent (%v)", name, s.tp.TraceID(), s.tp.ParentID(), wantCaller)
		}
	}
	lines := 0
	for _, rec := range ts.logs.records(t) {
		if rec["call_id"] == nil {
			continue
		}
		lines++
		if rec["trace_id"] != ownTrace || rec["span_id"] != ownSpan {
			line, _ := json.Marshal(rec)
			t.Errorf("a line without the observer's span: %s", line)
		}
	}
	if lines != 6 {
		t.Errorf("%d lines with a call id, want 6 (access log, Logger, InfoContext per call):\n%s", lines, ts.logs)
	}
}

func TestSetCallSpanRefused(t *testing.T) {
	ids := [16]byte{1}
	span := [8]byte{1}
	c := &call{Context: context.Background()}
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		traceID [16]byte
		spanID  [8]byte
	}{
		{"outside a call", context.Background(), ids, span},
		{"nil context", nil, ids, span},
		{"zero trace id", c, [16]byte{}, span},
		{"zero span id", c, ids, [8]byte{}},
	} {
		if SetCallSpan(tc.ctx, tc.traceID, tc.spanID) {
			t.Errorf("%s: SetCallSpan returned true", tc.name)
		}
	}
	if traceID, spanID := CallSpan(c); traceID != "" || spanID != "" {
		t.Errorf("after refused SetCallSpans, CallSpan = %q %q, want none", traceID, spanID)
	}
	if traceID, spanID := CallSpan(context.Background()); traceID != "" || spanID != "" {
		t.Errorf("outside a call, CallSpan = %q %q", traceID, spanID)
	}
	if !SetCallSpan(c, ids, span) {
		t.Fatal("SetCallSpan on a call returned false")
	}
	if traceID, spanID := CallSpan(c); traceID != "01000000000000000000000000000000" || spanID != "0100000000000000" {
		t.Errorf("CallSpan = %q %q, want the ids set", traceID, spanID)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
