package watchdog_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/inproc-go/templates/watchdog"
)

// A call that arrives with a W3C traceparent has its ids on every line
// logged for it; TraceContext gives the handler the whole context, to pass
// on or to start a span of its own under.
func ExampleTraceContext() {
	fn, _ := net.Listen("tcp", "127.0.0.1:0")
	metrics, _ := net.Listen("tcp", "127.0.0.1:0")
	cfg := watchdog.DefaultConfig()
	cfg.SuppressLock = true
	cfg.HealthcheckInterval = 10 * time.Millisecond

	// Warnings and above, without times, so the output is stable.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tc, ok := watchdog.TraceContext(r.Context()); ok {
			fmt.Println(tc.TraceID(), tc.ParentID(), tc.Sampled(), tc.TraceState())
		}
		watchdog.Logger(r.Context()).Warn("slow upstream")
		io.WriteString(w, "ok")
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- watchdog.Serve(ctx, h, watchdog.WithConfig(cfg),
			watchdog.WithListeners(fn, metrics), watchdog.WithLogger(logger))
	}()

	req, _ := http.NewRequest("GET", "http://"+fn.Addr().String()+"/", nil)
	req.Header.Set(watchdog.CallIDHeader, "a1b2c3")
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.Header.Set("tracestate", "congo=t61rcWkgMzE")
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
	}
	stop()
	<-done
	// Output:
	// 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 true congo=t61rcWkgMzE
	// level=WARN msg="slow upstream" call_id=a1b2c3 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7
}

// spanNamer stands for a tracer's CallObserver: it starts a span for each
// call (here with fixed ids) and names it, so the call's lines carry it.
type spanNamer struct{}

func (spanNamer) Start(r *http.Request) context.Context {
	traceID := [16]byte{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c}
	spanID := [8]byte{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31}
	watchdog.SetCallSpan(r.Context(), traceID, spanID)
	return r.Context()
}
func (spanNamer) End(context.Context, watchdog.CallResult) {}
func (spanNamer) Shutdown(context.Context) error           { return nil }

// An observer that starts a span of its own names it with SetCallSpan: the
// call's log lines then carry the observer's span (CallSpan), while
// TraceContext still gives what the caller sent.
func ExampleSetCallSpan() {
	fn, _ := net.Listen("tcp", "127.0.0.1:0")
	metrics, _ := net.Listen("tcp", "127.0.0.1:0")
	cfg := watchdog.DefaultConfig()
	cfg.SuppressLock = true
	cfg.HealthcheckInterval = 10 * time.Millisecond

	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tc, _ := watchdog.TraceContext(r.Context())
		fmt.Println("caller:", tc.TraceID(), tc.ParentID())
		traceID, spanID := watchdog.CallSpan(r.Context())
		fmt.Println("logged:", traceID, spanID)
		watchdog.Logger(r.Context()).Warn("slow upstream")
	})
	observer := func(watchdog.Config, *slog.Logger) (watchdog.CallObserver, error) { return spanNamer{}, nil }
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- watchdog.Serve(ctx, h, watchdog.WithConfig(cfg), watchdog.WithListeners(fn, metrics),
			watchdog.WithLogger(logger), watchdog.WithCallObserver(observer))
	}()

	req, _ := http.NewRequest("GET", "http://"+fn.Addr().String()+"/", nil)
	req.Header.Set(watchdog.CallIDHeader, "a1b2c3")
	req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01")
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
	}
	stop()
	<-done
	// Output:
	// caller: 0af7651916cd43dd8448eb211c80319c 00f067aa0ba902b7
	// logged: 0af7651916cd43dd8448eb211c80319c b7ad6b7169203331
	// level=WARN msg="slow upstream" call_id=a1b2c3 trace_id=0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331
}
