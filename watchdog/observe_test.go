package watchdog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type observedKey struct{}

// recordingObserver hands each call's result to a channel, with the call id
// Start saw, and notes when Shutdown runs.
type recordingObserver struct {
	ended    chan observedCall
	mu       sync.Mutex
	events   *[]string
	shutdown error
}

type observedCall struct {
	callID string // as Start saw it
	path   string
	result CallResult
}

type observedState struct {
	callID, path string
}

func (o *recordingObserver) Start(r *http.Request) context.Context {
	return context.WithValue(r.Context(), observedKey{}, &observedState{callID: CallID(r.Context()), path: r.URL.Path})
}

func (o *recordingObserver) End(ctx context.Context, res CallResult) {
	st, _ := ctx.Value(observedKey{}).(*observedState)
	if st == nil {
		st = &observedState{path: "(End got a context without Start's value)"}
	}
	o.ended <- observedCall{callID: st.callID, path: st.path, result: res}
}

func (o *recordingObserver) Shutdown(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	*o.events = append(*o.events, "observer")
	return o.shutdown
}

func (o *recordingObserver) next(t *testing.T) observedCall {
	t.Helper()
	select {
	case c := <-o.ended:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("End not called within 10s")
		return observedCall{}
	}
}

func newRecordingObserver(events *[]string) (*recordingObserver, Option) {
	o := &recordingObserver{ended: make(chan observedCall, 16), events: events}
	return o, WithCallObserver(func(Config, *slog.Logger) (CallObserver, error) { return o, nil })
}

// TestCallObserverSeesFinalStatus: End gets the status the caller got,
// including the answers the watchdog makes itself, and the handler's
// context is the one Start returned, still the call's.
func TestCallObserverSeesFinalStatus(t *testing.T) {
	for _, exec := range []time.Duration{0, 5 * time.Second} {
		t.Run("exec_timeout="+exec.String(), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ExecTimeout = exec
			cfg.MaxInflight = 1
			var events []string
			o, opt := newRecordingObserver(&events)
			entered := make(chan struct{}, 1)
			release := make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if st, _ := r.Context().Value(observedKey{}).(*observedState); st == nil || CallID(r.Context()) != st.callID {
					http.Error(w, "the handler's context is not the one Start returned", http.StatusTeapot)
					return
				}
				switch r.URL.Path {
				case "/fail":
					http.Error(w, "no", http.StatusInternalServerError)
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
				default:
					_, _ = io.WriteString(w, "12345")
				}
			})
			ts := startServer(t, cfg, h, opt)

			check := func(path string, want int, aborted bool) observedCall {
				t.Helper()
				c := o.next(t)
				if c.path != path || c.result.Status != want || c.result.Aborted != aborted || c.callID == "" || c.result.End.IsZero() {
					t.Errorf("End for %s: %+v, want path %s status %d aborted %v, a call id and an end time", path, c, path, want, aborted)
				}
				return c
			}

			res, body := ts.get("/")
			c := check("/", 200, false)
			if c.result.Bytes != 5 || c.callID != res.Header.Get(CallIDHeader) {
				t.Errorf("200: %d bytes, call id %q; want 5 bytes and the answer's call id %q (body %q)", c.result.Bytes, c.callID, res.Header.Get(CallIDHeader), body)
			}
			ts.get("/fail")
			check("/fail", 500, false)
			ts.get("/panic")
			check("/panic", 500, false)
			if res, err := ts.client.Get(ts.url + "/midpanic"); err == nil {
				_, _ = io.Copy(io.Discard, res.Body) // cut short: TestPanicMidStreamAbortsConnection
				res.Body.Close()
			}
			check("/midpanic", 200, true)
			if cfg.ExecTimeout > 0 {
				if code := wait(t, ts.asyncGet("/deadline", TimeoutHeader, "50ms")).code; code != http.StatusGatewayTimeout {
					t.Errorf("/deadline: %d, want 504", code)
				}
				<-entered
				check("/deadline", 504, false)
			}

			// 499: the caller leaves before any answer.
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "GET", ts.url+"/leave", nil)
			errc := make(chan error, 1)
			go func() {
				res, err := ts.client.Do(req)
				if err == nil {
					res.Body.Close()
				}
				errc <- err
			}()
			<-entered
			cancel()
			<-errc
			check("/leave", 499, false)

			// 429: max_inflight=1 and one call holds the slot.
			held := ts.asyncGet("/hold")
			<-entered
			if code, _ := ts.status("GET", "/"); code != http.StatusTooManyRequests {
				t.Errorf("second call with the one slot held: %d, want 429", code)
			}
			check("/", 429, false)
			close(release)
			wait(t, held)
			check("/hold", 200, false)

			// Probes are not the function's calls.
			ts.get("/_/health")
			ts.get("/_/ready")
			ts.get("/")
			check("/", 200, false)
		})
	}
}

// TestCallObserverShutdownAfterHooks: the observer's Shutdown runs after the
// shutdown hooks, so what they traced is flushed, and its error counts.
func TestCallObserverShutdownAfterHooks(t *testing.T) {
	var events []string
	o, opt := newRecordingObserver(&events)
	o.shutdown = errors.New("flush failed")
	hook := WithShutdown(func(context.Context) error {
		o.mu.Lock()
		defer o.mu.Unlock()
		events = append(events, "hook")
		return nil
	})
	// The observer's option first: its Shutdown still runs last.
	ts := startServer(t, testConfig(t), okHandler, opt, hook)
	err := ts.stop()
	if err == nil || !strings.Contains(err.Error(), "flush failed") {
		t.Errorf("Serve returned %v, want the observer's shutdown error", err)
	}
	if strings.Join(events, ",") != "hook,observer" {
		t.Errorf("shutdown order %v, want the hook, then the observer", events)
	}
}

func TestCallObserverRefused(t *testing.T) {
	if _, err := New(okHandler, WithConfig(testConfig(t)), WithCallObserver(nil)); err == nil {
		t.Error("WithCallObserver(nil) accepted")
	}
	bad := errors.New("OTEL_EXPORTER_OTLP_PROTOCOL: no")
	_, err := New(okHandler, WithConfig(testConfig(t)), WithCallObserver(func(Config, *slog.Logger) (CallObserver, error) { return nil, bad }))
	if !errors.Is(err, bad) {
		t.Errorf("New returned %v, want the constructor's error", err)
	}
	_, err = New(okHandler, WithConfig(testConfig(t)), WithCallObserver(func(Config, *slog.Logger) (CallObserver, error) { return nil, nil }))
	if err == nil {
		t.Error("a constructor returning neither observer nor error accepted")
	}
}

// metricsObserver is an observer that is also Metrics.
type metricsObserver struct {
	spanObserver
	series string
}

func (o metricsObserver) WritePrometheus(w io.Writer) { io.WriteString(w, o.series) }

// An observer that is also Metrics has its series on the metrics endpoint;
// a name that is the watchdog's is refused at start, as WithMetrics' are.
func TestCallObserverMetrics(t *testing.T) {
	own := metricsObserver{spanObserver{set: make(chan bool, 8)}, "# HELP observer_spans_total Spans.\n# TYPE observer_spans_total counter\nobserver_spans_total 7\n"}
	ts := newTestServer(t, testConfig(t), okHandler,
		WithCallObserver(func(Config, *slog.Logger) (CallObserver, error) { return own, nil })).serve()
	if v := ts.metric("observer_spans_total"); v != 7 {
		t.Errorf("observer_spans_total = %v, want 7", v)
	}

	clash := metricsObserver{spanObserver{}, "http_requests_total 1\n"}
	_, err := New(okHandler, WithConfig(testConfig(t)), WithLogger(slog.New(slog.DiscardHandler)),
		WithCallObserver(func(Config, *slog.Logger) (CallObserver, error) { return clash, nil }))
	if err == nil || !strings.Contains(err.Error(), "http_requests_total") {
		t.Errorf("an observer writing http_requests_total: %v, want refused naming it", err)
	}
}
