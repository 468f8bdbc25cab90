package watchdog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

func TestCallID(t *testing.T) {
	type seen struct{ header, ctx string }
	for _, exec := range []time.Duration{0, 5 * time.Second} {
		t.Run("exec_timeout="+exec.String(), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ExecTimeout = exec
			calls := make(chan seen, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls <- seen{r.Header.Get(CallIDHeader), CallID(r.Context())}
			})
			ts := startServer(t, cfg, h)

			// kept from the caller
			res, _ := ts.get("/", CallIDHeader, "gateway-id-1")
			s := <-calls
			if s.header != "gateway-id-1" || s.ctx != "gateway-id-1" || res.Header.Get(CallIDHeader) != "gateway-id-1" {
				t.Errorf("given call id: handler saw %+v, response %q", s, res.Header.Get(CallIDHeader))
			}

			// generated otherwise, the same everywhere, and new per call
			res, _ = ts.get("/")
			s = <-calls
			id := res.Header.Get(CallIDHeader)
			if u, err := uuid.Parse(id); err != nil || len(id) != 36 || u.Version() != 4 || u.Variant() != uuid.RFC4122 || id != strings.ToLower(id) {
				t.Errorf("generated call id %q is not a lower-case version 4 UUID: %v", id, err)
			}
			if s.header != id || s.ctx != id {
				t.Errorf("generated call id: handler saw %+v, response %q", s, id)
			}
			res, _ = ts.get("/")
			<-calls
			if res.Header.Get(CallIDHeader) == id {
				t.Error("two calls got the same generated id")
			}
		})
	}
	if CallID(context.Background()) != "" {
		t.Error("CallID outside a call is not empty")
	}
}

func TestAccessLog(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/teapot" {
			w.WriteHeader(http.StatusTeapot)
		}
		io.WriteString(w, "hello")
	})
	ts := startServer(t, testConfig(t), h)
	ts.get("/orders/7?token=s3cr3t", CallIDHeader, "call-log")
	ts.do(ts.request("POST", "/teapot", strings.NewReader("x"), CallIDHeader, "call-tea"))
	ts.get("/probe", "User-Agent", "kube-probe/1.30")

	calls := ts.logs.withMsg(t, "call")
	if len(calls) != 2 {
		t.Fatalf("%d access log lines, want 2 (none for kube-probe):\n%s", len(calls), ts.logs)
	}
	want := []map[string]any{
		{"level": "INFO", "method": "GET", "path": "/orders/7", "status": 200.0, "bytes": 5.0, "call_id": "call-log"},
		{"level": "INFO", "method": "POST", "path": "/teapot", "status": 418.0, "bytes": 5.0, "call_id": "call-tea"},
	}
	for i, w := range want {
		for k, v := range w {
			if calls[i][k] != v {
				t.Errorf("access line %d: %s = %v, want %v (line %v)", i, k, calls[i][k], v, calls[i])
			}
		}
		if d, ok := calls[i]["duration"].(float64); !ok || d <= 0 {
			t.Errorf("access line %d: duration %v", i, calls[i]["duration"])
		}
	}
	if strings.Contains(ts.logs.String(), "s3cr3t") {
		t.Errorf("the query string reached the logs:\n%s", ts.logs)
	}
	// The kube-probe call was still served and counted.
	if v := ts.metric(`http_requests_total{code="200",method="get"}`); v != 2 {
		t.Errorf("GET 200s = %v, want 2", v)
	}
}

// access_log=false drops the per-call lines and nothing else.
func TestAccessLogOff(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("access_log=%t", on), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.AccessLog = on
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				Logger(r.Context()).Info("in the handler")
			})
			ts := startServer(t, cfg, h)
			ts.get("/", CallIDHeader, "call-off")
			if got := ts.logs.withMsg(t, "in the handler"); len(got) != 1 || got[0]["call_id"] != "call-off" {
				t.Errorf("the handler's own line: %v, want one with call_id call-off:\n%s", got, ts.logs)
			}
			want := 0
			if on {
				want = 1
			}
			if got := ts.logs.withMsg(t, "call"); len(got) != want {
				t.Errorf("%d access log lines, want %d:\n%s", len(got), want, ts.logs)
			}
			if v := ts.metric(`http_requests_total{code="200",method="get"}`); v != 1 {
				t.Errorf("GET 200s = %v, want 1: the call is still counted", v)
			}
		})
	}
}

// Every way of logging in a call adds call_id once.
func TestLoggerCallIDOnce(t *testing.T) {
	var srv *Server
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		Logger(ctx).Info("via Logger")
		Logger(ctx).InfoContext(ctx, "via Logger InfoContext")
		Logger(ctx).With("k", "v").WithGroup("g").InfoContext(ctx, "via Logger With", "a", 1)
		srv.Logger().InfoContext(ctx, "via Server.Logger")
		srv.Logger().Info("via Server.Logger without ctx")
		slog.InfoContext(ctx, "via slog.InfoContext")
	})
	ts := newTestServer(t, testConfig(t), h)
	srv = ts.srv
	old := slog.Default()
	slog.SetDefault(srv.Logger()) // as Main does
	t.Cleanup(func() { slog.SetDefault(old) })
	ts.serve()
	ts.get("/", CallIDHeader, "call-once")

	lines := map[string]string{}
	for _, line := range strings.Split(ts.logs.String(), "\n") {
		for _, msg := range []string{"via Logger", "via Logger InfoContext", "via Logger With", "via Server.Logger", "via Server.Logger without ctx", "via slog.InfoContext"} {
			if strings.Contains(line, `"msg":"`+msg+`"`) {
				lines[msg] = line
			}
		}
	}
	for msg, want := range map[string]int{
		"via Logger": 1, "via Logger InfoContext": 1, "via Logger With": 1,
		"via Server.Logger": 1, "via slog.InfoContext": 1,
		"via Server.Logger without ctx": 0, // no context, no call
	} {
		line, ok := lines[msg]
		if !ok {
			t.Errorf("no line %q in:\n%s", msg, ts.logs)
			continue
		}
		if n := strings.Count(line, `"call_id":"call-once"`); n != want {
			t.Errorf("%q has call_id %d times, want %d: %s", msg, n, want, line)
		}
	}
	if l := lines["via Logger With"]; !strings.Contains(l, `"k":"v","g":{"a":1}`) {
		t.Errorf("Logger(ctx).With lost its attributes: %s", l)
	}
	if Logger(context.Background()) != slog.Default() {
		t.Error("Logger outside a call is not slog.Default()")
	}
}

func TestLongCallIDTruncatedInLogs(t *testing.T) {
	long := strings.Repeat("x", 10<<10)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Logger(r.Context()).Info("in the handler")
	})
	ts := startServer(t, testConfig(t), h)
	res, _ := ts.get("/", CallIDHeader, long)
	if res.Header.Get(CallIDHeader) != long {
		t.Error("the response's call id is not the caller's")
	}
	for _, msg := range []string{"call", "in the handler"} {
		recs := ts.logs.withMsg(t, msg)
		if len(recs) != 1 {
			t.Fatalf("%d %q lines", len(recs), msg)
		}
		id, _ := recs[0]["call_id"].(string)
		if want := strings.Repeat("x", 128) + "...(truncated)"; id != want {
			t.Errorf("%q: call_id of %d bytes logged, want the first 128 and a mark", msg, len(id))
		}
	}
	if strings.Contains(ts.logs.String(), strings.Repeat("x", 129)) {
		t.Error("more than 128 bytes of the call id reached the logs")
	}
}

func TestNewLoggerFormats(t *testing.T) {
	ctx := context.WithValue(context.Background(), callKey{}, &call{id: "c1"})
	for format, want := range map[string]string{
		"text": `level=INFO msg=hello n=1 call_id=c1`,
		"json": `"level":"INFO","msg":"hello","n":1,"call_id":"c1"}`,
	} {
		var buf bytes.Buffer
		newLogger(&buf, format).InfoContext(ctx, "hello", "n", 1)
		if !strings.Contains(buf.String(), want) {
			t.Errorf("%s logger wrote %q, want it to contain %q", format, buf.String(), want)
		}
	}
}

func TestBufferedOutput(t *testing.T) {
	var dst countingWriter
	b := newBufferedOutput(&dst, 200*time.Millisecond)
	io.WriteString(b, "line 1\n")
	io.WriteString(b, "line 2\n")
	if dst.String() != "" {
		t.Error("written through before the flush interval")
	}
	testkit.WaitFor(t, 2*time.Second, "the timed flush", func() bool { return dst.String() == "line 1\nline 2\n" })
	if n := dst.writes(); n != 1 {
		t.Errorf("%d writes for one batch, want 1", n)
	}

	// Nothing queued: nothing armed, so an idle function is never woken.
	// Stop reports a timer still pending; a ticker, or a timer re-armed
	// by the flush, would be.
	b.mu.Lock()
	scheduled := b.scheduled
	b.mu.Unlock()
	if scheduled || b.flusher.Stop() {
		t.Error("the flush timer is armed with nothing queued: an idle function would be woken")
	}

	io.WriteString(b, "line 3\n")
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if dst.String() != "line 1\nline 2\nline 3\n" {
		t.Errorf("after Flush: %q", dst.String())
	}
}

// A batch that reaches logFlushSize is written at once, not at the interval.
func TestBufferedOutputWritesAFullBatchAtOnce(t *testing.T) {
	var dst countingWriter
	b := newBufferedOutput(&dst, time.Hour)
	line := strings.Repeat("x", 1023) + "\n"
	for range logFlushSize / len(line) {
		io.WriteString(b, line)
	}
	testkit.WaitFor(t, 2*time.Second, "a full batch written", func() bool { return len(dst.String()) == logFlushSize })
}

// countingWriter is a logBuffer that counts its writes.
type countingWriter struct {
	logBuffer
	n atomic.Int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n.Add(1)
	return w.logBuffer.Write(p)
}

func (w *countingWriter) writes() int64 { return w.n.Load() }

// blockingWriter stands for a log reader that stopped reading (a full pipe).
type blockingWriter struct {
	release chan struct{}
	logBuffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return w.logBuffer.Write(p)
}

// A stalled log reader must not stall calls while the queue has room, and
// must lose no line once it reads again.
func TestBufferedOutputDoesNotBlockOnASlowReader(t *testing.T) {
	dst := &blockingWriter{release: make(chan struct{})}
	b := newBufferedOutput(dst, time.Millisecond)

	line := strings.Repeat("x", 99) + "\n"
	wrote := make(chan int)
	go func() {
		n := 0
		for ; n < 5000; n++ { // 500 KB, under logMaxPending
			io.WriteString(b, line)
		}
		wrote <- n
	}()
	select {
	case n := <-wrote:
		if n != 5000 {
			t.Fatalf("wrote %d lines", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Write blocked behind a stalled reader")
	}
	close(dst.release)
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(dst.String(), "\n"); got != 5000 {
		t.Fatalf("%d lines reached the reader, want 5000", got)
	}
}
