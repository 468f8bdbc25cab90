package watchdog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzAccessLine holds the access log's own line to what slog's handler
// writes for the same record, byte for byte, in both formats: where the
// line is written by accessLine, it must be the line slog would write, and
// where it can't be (a value needing quotes or escapes), slog writes it.
func FuzzAccessLine(f *testing.F) {
	f.Add("POST", "/", "0b6b5f4c-2a3e-4f51-9d0e-5c1f3e2a7b9d", 200, int64(17), int64(12345), int64(1764633600), uint32(123456789), false, 0)
	f.Add("GET", "/orders/7", "call-log", 418, int64(0), int64(1500*time.Millisecond), int64(1764633600), uint32(0), true, 19800)
	f.Add("GET", "/a b", "id", 200, int64(1), int64(1), int64(1764633600), uint32(100000000), false, -3600)
	f.Add("GET", `/q"\=`, "é\u2028\x00\xff", 500, int64(-1), int64(0), int64(0), uint32(1), true, 0)
	f.Add("", "", "", 0, int64(0), int64(-5), int64(-62135596801), uint32(999999999), false, 0)
	f.Add("GET", "/<&>", "x", 200, int64(1), int64(time.Hour+time.Microsecond), int64(253402300799), uint32(999999999), false, 1)
	// Values one step from the fast path: trailing zeros in the fraction, a
	// lone '=', '"' or '\\', a space, a non-ASCII byte, an empty path.
	f.Add("GET", "/a=b", "id", 200, int64(2), int64(time.Second), int64(1764633600), uint32(120000000), false, 0)
	f.Add("GET", `/a"b`, "id", 200, int64(2), int64(1), int64(1764633600), uint32(1000), false, 0)
	f.Add("GET", `/a\b`, "id", 200, int64(2), int64(1), int64(1764633600), uint32(1000), false, 0)
	f.Add("GET", "/a", "i d", 200, int64(2), int64(1), int64(1764633600), uint32(1000), true, 0)
	f.Add("GET", "/a", "\x7f", 200, int64(2), int64(1), int64(1764633600), uint32(1000), true, 0)
	f.Add("GET", "", "id", 200, int64(2), int64(1), int64(1764633600), uint32(1000), false, 0)
	f.Add("GET", "/~!#$%&'()*+,-.:;<>?@[]^_`{|}", "id", 200, int64(2), int64(999*time.Microsecond), int64(1764633600), uint32(999000000), true, 5400)
	f.Fuzz(func(t *testing.T, method, path, callID string, status int, n, dur, sec int64, nsec uint32, trace bool, offset int) {
		zone := time.UTC
		if offset != 0 {
			zone = time.FixedZone("z", offset%(18*3600))
		}
		fields := accessFields{
			end:      time.Unix(sec, int64(nsec%1e9)).In(zone),
			method:   method,
			path:     path,
			status:   status,
			bytes:    n,
			duration: time.Duration(dur),
			callID:   callID,
		}
		if trace {
			fields.traceID, fields.spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		}
		for _, c := range []struct {
			format  string
			aborted abortReason
		}{{"text", 0}, {"json", 0}, {"text", abortedExecTimeout}, {"json", abortedPanic}} {
			format := c.format
			fields.aborted = c.aborted
			var want bytes.Buffer
			h := newLogger(&want, format).Handler()
			_ = h.Handle(context.Background(), fields.record())

			line := newAccessLine(nil, format)
			// Twice: the second line uses the second formatted by the first.
			for range 2 {
				got, ok := line.append(nil, &fields)
				if !ok {
					continue
				}
				if !bytes.Equal(got, want.Bytes()) {
					t.Fatalf("%s:\n got %q\nwant %q", format, got, want.Bytes())
				}
			}
		}
	})
}

// The common call is written by accessLine, not handed to slog: a test that
// the fast path is taken, so the fuzz test above compares something.
func TestAccessLineTaken(t *testing.T) {
	fields := accessFields{end: time.Now(), method: "POST", path: "/", status: 200, bytes: 17,
		duration: time.Millisecond, callID: "0b6b5f4c-2a3e-4f51-9d0e-5c1f3e2a7b9d",
		traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7"}
	for _, format := range []string{"text", "json"} {
		if _, ok := newAccessLine(nil, format).append(nil, &fields); !ok {
			t.Errorf("%s: a plain call's line was left to slog", format)
		}
	}
	fields.path = "/a b"
	if _, ok := newAccessLine(nil, "text").append(nil, &fields); ok {
		t.Error(`text: a path with a space ("/a b") was written unquoted`)
	}
}

// A Server over its own logger writes the access line itself, in the
// configured format, with every key the slog record has.
func TestOwnAccessLog(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.LogFormat = format
			logs := &logBuffer{}
			s, err := New(echo, WithConfig(cfg), withOwnLogger(logs))
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("POST", "/orders/7?token=s3cr3t", strings.NewReader("hello"))
			req.Header.Set(CallIDHeader, "call-own")
			req.Header.Set("Traceparent", validTP)
			s.fnServer.Handler.ServeHTTP(httptest.NewRecorder(), req)
			if err := s.logOut.Flush(); err != nil {
				t.Fatal(err)
			}
			line := strings.TrimSuffix(logs.String(), "\n")
			got := map[string]string{}
			if format == "json" {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("%v: %q", err, line)
				}
				for k, v := range m {
					got[k] = fmt.Sprint(v)
				}
			} else {
				for _, kv := range strings.Split(line, " ") {
					k, v, _ := strings.Cut(kv, "=")
					got[k] = v
				}
			}
			tp, _ := parseTraceparent(validTP)
			for k, want := range map[string]string{"level": "INFO", "msg": "call", "method": "POST", "path": "/orders/7",
				"status": "200", "bytes": "5", "call_id": "call-own", "trace_id": tp.TraceID(), "span_id": tp.ParentID()} {
				if got[k] != want {
					t.Errorf("%s = %q, want %q in %q", k, got[k], want, line)
				}
			}
			if got["time"] == "" || got["duration"] == "" {
				t.Errorf("no time or duration in %q", line)
			}
		})
	}
}

// A caller's call id is never trusted to be plain: one that needs quoting
// reaches the access line as slog's text handler writes it, and the
// watchdog's own id, which is plain, unquoted.
func TestAccessLineCallID(t *testing.T) {
	cfg := testConfig(t)
	logs := &logBuffer{}
	s, err := New(echo, WithConfig(cfg), withOwnLogger(logs))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{`a"b=c`, ""} {
		req := httptest.NewRequest("POST", "/", strings.NewReader("hello"))
		if id != "" {
			req.Header.Set(CallIDHeader, id)
		}
		rec := httptest.NewRecorder()
		s.fnServer.Handler.ServeHTTP(rec, req)
		if err := s.logOut.Flush(); err != nil {
			t.Fatal(err)
		}
		want := ` call_id=` + strconv.Quote(id)
		if id == "" {
			want = ` call_id=` + rec.Header().Get(CallIDHeader)
		}
		lines := strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
		if line := lines[len(lines)-1]; !strings.HasSuffix(line, want) {
			t.Errorf("X-Call-Id %q: access line %q, want it to end %q", id, line, want)
		}
	}
}

// FuzzPlain checks plain, which tests a word at a time, against the rule
// it implements tested a byte at a time.
func FuzzPlain(f *testing.F) {
	for _, s := range []string{"", "4e0c7f1a-2b3d-4c5e-8f60-718293a4b5c6", "/orders/42", "POST",
		"a b", `a"b`, `a\b`, "a=b", "abcdefg\x7f", "abcdefgh~", "héllo", "\x00bcdefghijk", "!!!!!!!!~~~~~~~~", "12345678=", "1234567 ", "abc=defgh", "ab\"cdefgh", "a\\bcdefgh", "abcdefg\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := true
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < '!' || c > '~' || c == '"' || c == '\\' || c == '=' {
				want = false
			}
		}
		if got := plain(s); got != want {
			t.Errorf("plain(%q) = %v, want %v", s, got, want)
		}
	})
}

// FuzzAppendDuration checks that the access line writes a duration as
// time.Duration.String does, as slog's text handler would.
func FuzzAppendDuration(f *testing.F) {
	for _, d := range []int64{0, 1, 999, 1000, 1001, 123456, 999999, 1e6, 1500000, 999999999, 1e9, 1e9 + 1, 59e9, 60e9, 61500e6,
		3600e9, 3661e9 + 5, -1, -123456, math.MaxInt64, math.MinInt64} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		d := time.Duration(n)
		if got, want := string(appendDuration([]byte("x="), d)), "x="+d.String(); got != want {
			t.Errorf("appendDuration(%d) = %q, want %q", n, got, want)
		}
	})
}
