package watchdog

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"
)

// The W3C Trace Context headers, in net/http's canonical form.
const (
	traceparentHeader = "Traceparent"
	tracestateHeader  = "Tracestate"
)

// traceparentLen is the length of a version 00 traceparent: version,
// trace-id, parent-id and trace-flags with their three dashes.
const traceparentLen = 2 + 1 + 32 + 1 + 16 + 1 + 2

// TraceParent is the W3C Trace Context (https://www.w3.org/TR/trace-context/)
// a call arrived with: its traceparent header, parsed, and its tracestate,
// kept as the caller sent it.
//
// The watchdog starts no span of its own (it has no tracer), so unless a
// CallObserver names the span it started (SetCallSpan), the span a call's
// log lines name as span_id is the caller's: ParentID. A function that
// calls on can pass these headers on unchanged, or start its own span under
// ParentID with a tracer of its choice.
//
// The zero TraceParent is a call without a valid traceparent.
type TraceParent struct {
	// value is the traceparent's first four fields, validated; the ids are
	// slices of it, so reading them never allocates.
	value string
	state string
}

// Version is the traceparent's version: 0 for the format this watchdog
// knows, higher for a later one, whose first four fields it still reads.
func (t TraceParent) Version() byte {
	if t.value == "" {
		return 0
	}
	return hexByte(t.value[0], t.value[1])
}

// TraceID is the 32 lower-case hex digits of the trace id, or "".
func (t TraceParent) TraceID() string {
	if t.value == "" {
		return ""
	}
	return t.value[3:35]
}

// ParentID is the 16 lower-case hex digits of the caller's span id, or "".
func (t TraceParent) ParentID() string {
	if t.value == "" {
		return ""
	}
	return t.value[36:52]
}

// Flags is the trace-flags byte; bit 0 is sampled.
func (t TraceParent) Flags() byte {
	if t.value == "" {
		return 0
	}
	return hexByte(t.value[53], t.value[54])
}

// Sampled reports whether the caller may have recorded its span.
func (t TraceParent) Sampled() bool { return t.Flags()&1 != 0 }

// TraceState is the tracestate header as received (several headers joined
// with commas, as HTTP allows), or "". It is not validated: the watchdog
// neither reads nor changes it, only keeps it for the function.
func (t TraceParent) TraceState() string { return t.state }

// TraceContext returns the trace context the call whose context is ctx
// arrived with, and false outside a call or when it had no valid
// traceparent (then tracestate is dropped too, as the spec requires). It is
// always what the caller sent, even once an observer has started a span of
// its own: CallSpan gives the ids the call's log lines carry.
func TraceContext(ctx context.Context) (TraceParent, bool) {
	c := callFrom(ctx)
	if c == nil || c.trace.value == "" {
		return TraceParent{}, false
	}
	return c.trace, true
}

// SetCallSpan names the span the call whose context is ctx runs in, for a
// CallObserver whose Start begins one: from then on every line logged for
// the call, its access-log line included, carries this trace id and span id
// as trace_id and span_id instead of the caller's, and so does a call that
// came without traceparent. traceID and spanID are the W3C ids in binary,
// as OpenTelemetry's trace.TraceID and trace.SpanID are, so a SpanContext's
// TraceID() and SpanID() pass as they are.
//
// It reports false, and changes nothing, outside a call or for an all-zero
// id, which Trace Context makes invalid. A call whose observer never calls
// it logs the caller's ids, at no cost.
func SetCallSpan(ctx context.Context, traceID [16]byte, spanID [8]byte) bool {
	c := callFrom(ctx)
	if c == nil || traceID == [16]byte{} || spanID == [8]byte{} {
		return false
	}
	// One string for both ids, so the log lines slice it and never allocate.
	var buf [2 * (16 + 8)]byte
	hex.Encode(buf[:32], traceID[:])
	hex.Encode(buf[32:], spanID[:])
	ids := string(buf[:])
	c.span.Store(&ids)
	return true
}

// CallSpan returns the trace id and span id, in lower-case hex, that the
// lines logged for the call whose context is ctx carry: the span an observer
// named with SetCallSpan, else the caller's trace id and its span (ParentID)
// from traceparent, else two empty strings, as outside a call.
func CallSpan(ctx context.Context) (traceID, spanID string) {
	return callFrom(ctx).logIDs()
}

// traceFrom reads the trace context from a request's headers. A missing or
// malformed traceparent is a call without one, never an error: the caller's
// tracing is not the function's concern. Two traceparent headers are
// malformed too (the W3C test suite expects a new trace for them).
func traceFrom(h http.Header) TraceParent {
	v := h[traceparentHeader]
	if len(v) != 1 {
		return TraceParent{}
	}
	t, ok := parseTraceparent(v[0])
	if !ok {
		return TraceParent{}
	}
	switch states := h[tracestateHeader]; len(states) {
	case 0:
	case 1:
		t.state = states[0]
	default:
		t.state = strings.Join(states, ",")
	}
	return t
}

// parseTraceparent parses a traceparent value as the spec's section 3.2
// and its versioning rules say: version 00 exactly as specified; a later
// version by its first four fields, which must be followed by the end of
// the value or a dash; version ff never. Hex is lower-case only.
func parseTraceparent(s string) (TraceParent, bool) {
	if len(s) < traceparentLen || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return TraceParent{}, false
	}
	version, traceID, parentID, flags := s[0:2], s[3:35], s[36:52], s[53:55]
	if !lowerHex(version) || version == "ff" ||
		!lowerHex(traceID) || allZero(traceID) ||
		!lowerHex(parentID) || allZero(parentID) ||
		!lowerHex(flags) {
		return TraceParent{}, false
	}
	if len(s) > traceparentLen && (version == "00" || s[traceparentLen] != '-') {
		return TraceParent{}, false
	}
	return TraceParent{value: s[:traceparentLen]}, true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	return strings.Count(s, "0") == len(s)
}

// hexByte decodes two lower-case hex digits, already validated.
func hexByte(hi, lo byte) byte { return unhex(hi)<<4 | unhex(lo) }

func unhex(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}
