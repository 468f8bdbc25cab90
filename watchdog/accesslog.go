package watchdog

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// accessLine writes the access log's "call" record itself, straight into
// the log batch, byte for byte as the watchdog's own slog handler (text or
// JSON, no options) would, without building a slog.Record and walking it
// through the handler, on every call. It is used only over the watchdog's
// own logger, whose output it knows; a logger given by WithLogger gets the
// record through its handler.
//
// Only values that need no quoting or escaping in either format are
// written here; a call with any other method, path or call id falls back
// to the handler, so escaping stays slog's.
type accessLine struct {
	out  *bufferedOutput
	json bool
	// second is the clock reading formatted up to its seconds, kept for
	// the second it names: every call within it shares the formatting.
	second atomic.Pointer[formattedSecond]
}

// formattedSecond is one second of time.RFC3339, split around where the
// fraction goes: "2006-01-02T15:04:05" and "Z" or "+07:00".
type formattedSecond struct {
	unix       int64
	date, zone string
}

// accessFields are the facts one access-log line gives.
type accessFields struct {
	end             time.Time
	method, path    string
	status          int
	bytes           int64
	duration        time.Duration
	aborted         abortReason
	callID          string // already cut to maxLoggedCallID
	callIDMade      bool   // callID is the watchdog's own: plain, unchecked
	traceID, spanID string // both or neither
}

func newAccessLine(out *bufferedOutput, format string) *accessLine {
	return &accessLine{out: out, json: format == "json"}
}

// write queues the line and reports whether it could; false leaves the
// record to the handler.
func (l *accessLine) write(f *accessFields) bool {
	var buf [320]byte
	b, ok := l.append(buf[:0], f)
	if ok {
		_, _ = l.out.Write(b)
	}
	return ok
}

// append formats f as one line onto b, or reports false for a value that
// would need quoting or escaping.
func (l *accessLine) append(b []byte, f *accessFields) ([]byte, bool) {
	if !plain(f.method) || !plain(f.path) || !f.callIDMade && !plain(f.callID) || !plain(f.traceID) || !plain(f.spanID) ||
		f.method == "" || f.path == "" || f.callID == "" {
		return b, false
	}
	sec := l.formattedSecond(f.end)
	if sec == nil {
		return b, false
	}
	if l.json {
		b = append(b, `{"time":"`...)
		b = append(b, sec.date...)
		b = appendNanos(b, f.end.Nanosecond())
		b = append(b, sec.zone...)
		b = append(b, `","level":"INFO","msg":"call","method":"`...)
		b = append(b, f.method...)
		b = append(b, `","path":"`...)
		b = append(b, f.path...)
		b = append(b, `","status":`...)
		b = strconv.AppendInt(b, int64(f.status), 10)
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, f.bytes, 10)
		b = append(b, `,"duration":`...)
		b = strconv.AppendInt(b, int64(f.duration), 10)
		if f.aborted != 0 {
			b = append(b, `,"aborted":"`...)
			b = append(b, f.aborted.String()...)
			b = append(b, '"')
		}
		b = append(b, `,"call_id":"`...)
		b = append(b, f.callID...)
		if f.traceID != "" {
			b = append(b, `","trace_id":"`...)
			b = append(b, f.traceID...)
			b = append(b, `","span_id":"`...)
			b = append(b, f.spanID...)
		}
		return append(b, "\"}\n"...), true
	}
	b = append(b, "time="...)
	b = append(b, sec.date...)
	b = appendMillis(b, f.end.Nanosecond())
	b = append(b, sec.zone...)
	b = append(b, " level=INFO msg=call method="...)
	b = append(b, f.method...)
	b = append(b, " path="...)
	b = append(b, f.path...)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(f.status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, f.bytes, 10)
	b = append(b, " duration="...)
	b = appendDuration(b, f.duration)
	if f.aborted != 0 {
		b = append(b, " aborted="...)
		b = append(b, f.aborted.String()...)
	}
	b = append(b, " call_id="...)
	b = append(b, f.callID...)
	if f.traceID != "" {
		b = append(b, " trace_id="...)
		b = append(b, f.traceID...)
		b = append(b, " span_id="...)
		b = append(b, f.spanID...)
	}
	return append(b, '\n'), true
}

// formattedSecond returns t's second formatted, or nil for a year RFC 3339
// can't write in four digits.
func (l *accessLine) formattedSecond(t time.Time) *formattedSecond {
	unix := t.Unix()
	if s := l.second.Load(); s != nil && s.unix == unix {
		return s
	}
	// A time zone's offset changes only on a whole second, so the second's
	// own formatting holds for every time within it.
	text := t.Truncate(time.Second).AppendFormat(make([]byte, 0, 32), time.RFC3339)
	const dateLen = len("2006-01-02T15:04:05")
	if y := t.Year(); y < 0 || y > 9999 || len(text) <= dateLen {
		return nil
	}
	s := &formattedSecond{unix: unix, date: string(text[:dateLen]), zone: string(text[dateLen:])}
	l.second.Store(s)
	return s
}

// plain reports whether s is written as it is in both formats: printable
// ASCII without space, '"', '\\' or '=' (the JSON handler escapes '"' and
// '\\', the text handler quotes those, space and '='). The text handler
// quotes the empty string too: append checks for it where it can occur.
//
// Eight bytes are tested at a time, as one word, for a call id is checked
// on every call; the last word of a string of eight or more overlaps the one
// before.
func plain(s string) bool {
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' || c == '=' {
				return false
			}
		}
		return true
	}
	for i := 0; ; i += 8 {
		if i > len(s)-8 {
			i = len(s) - 8
		}
		if !plainWord(word(s[i : i+8])) {
			return false
		}
		if i == len(s)-8 {
			return true
		}
	}
}

// word is the eight bytes of s as one word.
func word(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plainWord reports whether each byte of x is plain. Each test sets the top
// bit of some byte when x has a byte of its kind (exact for "some byte",
// not for which one).
func plainWord(x uint64) bool {
	below := (x - '!'*ones) &^ x // a byte below '!': space, controls
	above := (x + ones) | x      // a byte above '~'
	return (below|above|zeroByte(x^'"'*ones)|zeroByte(x^'\\'*ones)|zeroByte(x^'='*ones))&tops == 0
}

// ones and tops are 0x01 and 0x80 in each byte of a word.
const ones, tops = 0x0101010101010101, 0x8080808080808080

// zeroByte sets the top bit of some byte of the result when x has a zero
// byte (and only then, once masked with tops).
func zeroByte(x uint64) uint64 { return (x - ones) &^ x }

// appendNanos writes the fraction of a second as time.RFC3339Nano does:
// up to nine digits, trailing zeros dropped, nothing for none.
func appendNanos(b []byte, ns int) []byte { return appendFraction(b, uint64(ns), 9) }

// appendFraction writes v as the prec digits after a decimal point, as
// time.RFC3339Nano and time.Duration.String do: trailing zeros dropped, and
// nothing, not even the point, when all are zeros.
func appendFraction(b []byte, v uint64, prec int) []byte {
	var digits [9]byte
	for i := prec - 1; i >= 0; i-- {
		digits[i] = byte('0' + v%10)
		v /= 10
	}
	n := prec
	for n > 0 && digits[n-1] == '0' {
		n--
	}
	if n == 0 {
		return b
	}
	return append(append(b, '.'), digits[:n]...)
}

// appendDuration writes d as d.String() does, which is how slog's text
// handler writes a duration, without making the string: the access line
// writes one on every call.
func appendDuration(b []byte, d time.Duration) []byte {
	u := uint64(d)
	if d < 0 {
		b = append(b, '-')
		u = -u
	}
	switch {
	case u == 0:
		return append(b, "0s"...)
	case u < uint64(time.Microsecond):
		return append(strconv.AppendUint(b, u, 10), "ns"...)
	case u < uint64(time.Millisecond):
		return append(appendFraction(strconv.AppendUint(b, u/1e3, 10), u%1e3, 3), "µs"...)
	case u < uint64(time.Second):
		return append(appendFraction(strconv.AppendUint(b, u/1e6, 10), u%1e6, 6), "ms"...)
	}
	// Hours, minutes and seconds; no days, which differ in length.
	sec, frac := u/1e9, u%1e9
	if h := sec / 3600; h > 0 {
		b = append(strconv.AppendUint(b, h, 10), 'h')
	}
	if sec >= 60 {
		b = append(strconv.AppendUint(b, sec/60%60, 10), 'm')
	}
	return append(appendFraction(strconv.AppendUint(b, sec%60, 10), frac, 9), 's')
}

// appendMillis writes the fraction of a second as slog's text handler
// does: three digits, always.
func appendMillis(b []byte, ns int) []byte {
	ms := ns / 1e6
	return append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
}

// isProbe reports a Kubernetes probe by its User-Agent, read from the map
// directly: the key is canonical, so Header.Get's canonicalisation is waste.
// Kubernetes probes with GET only: other methods need not ask.
func isProbe(r *http.Request) bool {
	ua := r.Header["User-Agent"]
	return len(ua) > 0 && strings.HasPrefix(ua[0], "kube-probe")
}

// withAccessLog writes one line per call: method, path (never the query,
// which may hold secrets), status, bytes, duration, why the answer was
// aborted if it was (see abort.go), call id and, if the call has them,
// trace and span ids. Kubernetes probes are not logged. line,
// when not nil, writes the line itself over the watchdog's own logger (see
// accessLine).
//
//go:noinline (a layer: see Server.build)
func withAccessLog(logger *slog.Logger, line *accessLine, next callHandler) callHandler {
	// The record is built here and handed to the handler under the call-id
	// one, with the id added once: LogAttrs would read the clock again and
	// copy the record.
	h := logger.Handler()
	if ch, ok := h.(callIDHandler); ok {
		h = ch.Handler
	}
	return func(rec *recorder, r *http.Request) {
		next(rec, r)
		ctx := r.Context()
		if !h.Enabled(ctx, slog.LevelInfo) || r.Method == http.MethodGet && isProbe(r) {
			return
		}
		end, took := rec.finished()
		c := callFrom(ctx)
		f := accessFields{
			end:      end,
			method:   r.Method,
			path:     r.URL.Path,
			status:   callStatus(rec, r),
			bytes:    rec.bytes,
			duration: took,
			aborted:  rec.aborted,
		}
		if c != nil {
			f.callID, f.callIDMade = loggableCallID(c.id), c.madeID()
		}
		f.traceID, f.spanID = c.logIDs()
		if line != nil && line.write(&f) {
			return
		}
		_ = h.Handle(ctx, f.record())
	}
}

// record is f as the slog record the access log's handler gets.
func (f *accessFields) record() slog.Record {
	record := slog.NewRecord(f.end, slog.LevelInfo, "call", 0)
	record.AddAttrs(
		slog.String("method", f.method),
		slog.String("path", f.path),
		slog.Int("status", f.status),
		slog.Int64("bytes", f.bytes),
		slog.Duration("duration", f.duration),
	)
	if f.aborted != 0 {
		record.AddAttrs(slog.String("aborted", f.aborted.String()))
	}
	// The ids in one more AddAttrs, which grows the record's overflow
	// once whether or not the trace ids come along.
	id := slog.String("call_id", f.callID)
	if f.traceID != "" {
		record.AddAttrs(id, slog.String("trace_id", f.traceID), slog.String("span_id", f.spanID))
	} else {
		record.AddAttrs(id)
	}
	return record
}
