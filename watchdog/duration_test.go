package watchdog

import (
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// durationRE is of-watchdog's format, fmt's %f: six decimals.
var durationRE = regexp.MustCompile(`^[0-9]+\.[0-9]{6}$`)

// durationOf checks X-Duration-Seconds on h and returns it in seconds; it
// can't exceed the time the caller waited, elapsed.
func durationOf(t *testing.T, what string, h http.Header, elapsed time.Duration) float64 {
	t.Helper()
	v := h.Values(DurationHeader)
	if len(v) != 1 || !durationRE.MatchString(v[0]) {
		t.Errorf("%s: %s = %q, want one value like 0.001234", what, DurationHeader, v)
		return 0
	}
	d, _ := strconv.ParseFloat(v[0], 64)
	if d > elapsed.Seconds() {
		t.Errorf("%s: %s = %s, more than the %s the caller waited", what, DurationHeader, v[0], elapsed)
	}
	return d
}

func TestDurationHeader(t *testing.T) {
	for _, exec := range []time.Duration{0, 5 * time.Second} {
		t.Run("exec_timeout="+exec.String(), func(t *testing.T) {
			streaming, release, lateRelease := make(chan struct{}), make(chan struct{}), make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/body":
					w.Header().Set(DurationHeader, "handler's own, replaced")
					_, _ = io.WriteString(w, "hello")
				case "/created":
					w.WriteHeader(http.StatusCreated)
				case "/nothing":
				case "/hints":
					w.Header().Set("Link", "</style.css>; rel=preload")
					w.WriteHeader(http.StatusEarlyHints)
					_, _ = io.WriteString(w, "ok")
				case "/panic":
					panic("boom")
				case "/stream":
					// Flushed before any write: the answer begins with the flush.
					http.NewResponseController(w).Flush()
					_, _ = io.WriteString(w, "first\n")
					http.NewResponseController(w).Flush()
					close(streaming)
					<-release
					_, _ = io.WriteString(w, "last\n")
				case "/late":
					<-lateRelease // past its deadline: the watchdog answers 504
				}
			})
			cfg := testConfig(t)
			cfg.ExecTimeout = exec
			cfg.MaxInflight = 1
			ts := startServer(t, cfg, h)

			for _, tc := range []struct {
				path string
				code int
			}{
				{"/body", 200}, {"/created", 201}, {"/nothing", 200}, {"/hints", 200}, {"/panic", 500},
			} {
				var early textproto.MIMEHeader
				trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
					early = h
					return nil
				}}
				req := ts.request("GET", tc.path, nil)
				req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
				start := time.Now()
				res, _ := ts.do(req)
				if res.StatusCode != tc.code {
					t.Errorf("%s: status %d, want %d", tc.path, res.StatusCode, tc.code)
				}
				durationOf(t, tc.path, res.Header, time.Since(start))
				if tc.path == "/hints" {
					if early == nil {
						t.Error("/hints: no 103 reached the caller")
					} else if v, ok := early[DurationHeader]; ok {
						t.Errorf("/hints: the 103 carries %s %q: only the answer should", DurationHeader, v)
					}
				}
			}

			// A stream has it from its first byte, while the handler runs on;
			// a call refused meanwhile (max_inflight=1) has it too.
			start := time.Now()
			res, err := ts.client.Do(ts.request("GET", "/stream", nil))
			if err != nil {
				t.Fatal(err)
			}
			<-streaming
			durationOf(t, "/stream", res.Header, time.Since(start))
			busyStart := time.Now()
			busy, _ := ts.get("/body")
			if busy.StatusCode != http.StatusTooManyRequests {
				t.Errorf("/body beside the stream: status %d, want 429", busy.StatusCode)
			}
			durationOf(t, "429", busy.Header, time.Since(busyStart))
			close(release)
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()

			// The watchdog's 504 counts from the call's arrival.
			start = time.Now()
			late, _ := ts.get("/late", TimeoutHeader, "50ms")
			if late.StatusCode != http.StatusGatewayTimeout {
				t.Errorf("/late: status %d, want 504", late.StatusCode)
			}
			if d := durationOf(t, "504", late.Header, time.Since(start)); d < 0.05 {
				t.Errorf("504 after a 50ms X-Timeout: %s = %f, want at least 0.05", DurationHeader, d)
			}
			close(lateRelease)
		})
	}
}

// appendSeconds writes what strconv.AppendFloat's 'f' with six digits
// writes, but for a duration of a half microsecond exactly, which it
// rounds up where the float rounds to nearest.
func FuzzAppendSeconds(f *testing.F) {
	for _, d := range []int64{0, 1, 499, 501, 999, 1000, 999_999_499, 999_999_501, 1e9, 10e9 + 123_456_789, 3600e9, 1<<50 - 1, 1 << 50, 4611686018427387680, -1} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, ns int64) {
		d := time.Duration(ns)
		if d >= 0 && d%1000 == 500 {
			return
		}
		want := strconv.AppendFloat(nil, d.Seconds(), 'f', 6, 64)
		if got := appendSeconds(nil, d); string(got) != string(want) {
			t.Fatalf("appendSeconds(%d) = %s, want %s", ns, got, want)
		}
	})
}
