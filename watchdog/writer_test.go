package watchdog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// Every http.ResponseController feature net/http's own writer has works
// through the chain, with and without exec_timeout.
func TestResponseControllerThroughChain(t *testing.T) {
	features := []struct {
		name string
		use  func(rc *http.ResponseController) error
	}{
		{"SetWriteDeadline", func(rc *http.ResponseController) error {
			return rc.SetWriteDeadline(time.Now().Add(time.Minute))
		}},
		{"SetReadDeadline", func(rc *http.ResponseController) error {
			return rc.SetReadDeadline(time.Now().Add(time.Minute))
		}},
		{"EnableFullDuplex", func(rc *http.ResponseController) error { return rc.EnableFullDuplex() }},
		{"Flush", func(rc *http.ResponseController) error { return rc.Flush() }},
	}
	for _, exec := range []time.Duration{0, 5 * time.Second} {
		for _, f := range features {
			t.Run(fmt.Sprintf("exec_timeout=%s/%s", exec, f.name), func(t *testing.T) {
				cfg := testConfig(t)
				cfg.ExecTimeout = exec
				h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if err := f.use(http.NewResponseController(w)); err != nil {
						http.Error(w, fmt.Sprintf("%s through %T: %v", f.name, w, err), http.StatusInternalServerError)
						return
					}
					io.WriteString(w, "ok")
				})
				ts := startServer(t, cfg, h)
				if res, body := ts.get("/"); res.StatusCode != 200 || body != "ok" {
					t.Errorf("%s: %d %q", f.name, res.StatusCode, body)
				}
			})
		}
	}
}

// flushFailer is a ResponseWriter whose flushes fail, as net/http's do once
// the caller has gone.
type flushFailer struct {
	http.ResponseWriter
	err error
}

func (f flushFailer) FlushError() error { return f.err }

// A flush that fails is reported to the handler, whichever writers are in
// between.
func TestFlushErrorReported(t *testing.T) {
	gone := errors.New("client gone")
	stacks := []struct {
		name string
		w    func() http.ResponseWriter
	}{
		{"recorder", func() http.ResponseWriter {
			return newRecorder(flushFailer{httptest.NewRecorder(), gone}, 0)
		}},
		{"recorder with stream write timeout", func() http.ResponseWriter {
			return newRecorder(flushFailer{httptest.NewRecorder(), gone}, time.Second)
		}},
		{"guardedWriter over recorder", func() http.ResponseWriter {
			return &guardedWriter{w: newRecorder(flushFailer{httptest.NewRecorder(), gone}, 0)}
		}},
	}
	for _, s := range stacks {
		t.Run(s.name, func(t *testing.T) {
			if err := http.NewResponseController(s.w()).Flush(); !errors.Is(err, gone) {
				t.Errorf("ResponseController.Flush = %v, want %v", err, gone)
			}
		})
	}
}

// A caller who hangs up mid-stream makes the handler's flushes fail, through
// the whole chain: a stream can stop instead of writing into the void.
func TestFlushErrorWhenCallerLeaves(t *testing.T) {
	for _, exec := range []time.Duration{0, 5 * time.Second} {
		t.Run("exec_timeout="+exec.String(), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ExecTimeout = exec
			flushErr := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				chunk := strings.Repeat("x", 1<<10) + "\n"
				// Write errors are ignored on purpose: only Flush is tested.
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
					io.WriteString(w, chunk)
					if err := rc.Flush(); err != nil {
						flushErr <- err
						return
					}
				}
				flushErr <- nil
			})
			ts := startServer(t, cfg, h)
			ctx, cancel := context.WithCancel(context.Background())
			req := ts.request("GET", "/", nil).WithContext(ctx)
			res, err := ts.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bufio.NewReader(res.Body).ReadString('\n'); err != nil {
				t.Fatalf("first chunk: %v", err)
			}
			cancel() // closes the connection
			res.Body.Close()
			select {
			case err := <-flushErr:
				if err == nil {
					t.Error("Flush kept returning nil for 10s after the caller left")
				}
			case <-time.After(20 * time.Second):
				t.Fatal("handler did not return")
			}
		})
	}
}

// 1xx answers (103 Early Hints, 100 Continue) go out ahead of the answer
// and are not it: the status logged and counted is the final one, and a
// handler that sent only a 1xx has not begun its answer, so it can still get
// its 504 or its 500.
func TestInformationalAnswers(t *testing.T) {
	type step func(w http.ResponseWriter, r *http.Request)
	hints := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
	}
	yes, no := true, false
	tests := []struct {
		name     string
		execs    []time.Duration
		handler  []step
		status   int    // final status at the caller, in the log and the metrics
		body     string // prefix
		link     *bool  // the final answer carries the handler's Link header; nil: not checked
		informal []int  // 1xx codes the caller saw
	}{
		{"103 then 200", []time.Duration{0, 5 * time.Second}, []step{hints, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "page")
		}}, 200, "page", &yes, []int{103}},
		{"103 then nothing: the implicit 200", []time.Duration{0, 5 * time.Second}, []step{hints}, 200, "", &yes, []int{103}},
		{"100 then 201", []time.Duration{0, 5 * time.Second}, []step{func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusContinue)
			w.WriteHeader(http.StatusCreated)
		}}, 201, "", &no, []int{100}},
		{"103 then 103 then 204", []time.Duration{0, 5 * time.Second}, []step{hints, hints, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}}, 204, "", &yes, []int{103, 103}},
		{"103 then a panic: 500", []time.Duration{0, 5 * time.Second}, []step{hints, func(w http.ResponseWriter, r *http.Request) {
			panic("after the hints")
			// Link not checked: without exec_timeout the 500 goes out with
			// whatever headers the handler had set, as for any panic.
		}}, 500, "the function panicked", nil, []int{103}},
		// The 504 comes whether the handler gives up at its deadline or not.
		{"103 then the deadline passes: 504", []time.Duration{500 * time.Millisecond}, []step{hints, func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}}, 504, "the function did not answer within 500ms", &no, []int{103}},
	}
	for _, tt := range tests {
		for _, exec := range tt.execs {
			t.Run(fmt.Sprintf("%s/exec_timeout=%s", tt.name, exec), func(t *testing.T) {
				cfg := testConfig(t)
				cfg.ExecTimeout = exec
				h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					for _, s := range tt.handler {
						s(w, r)
					}
				})
				ts := startServer(t, cfg, h)
				var informal []int
				trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, header textproto.MIMEHeader) error {
					if code == http.StatusEarlyHints && header.Get("Link") == "" {
						t.Errorf("103 without the handler's Link header: %v", header)
					}
					informal = append(informal, code)
					return nil
				}}
				req := ts.request("GET", "/", nil)
				req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
				res, body := ts.do(req)
				if res.StatusCode != tt.status || !strings.HasPrefix(body, tt.body) {
					t.Errorf("answer %d %q, want %d %q...", res.StatusCode, body, tt.status, tt.body)
				}
				if got := res.Header.Get("Link") != ""; tt.link != nil && got != *tt.link {
					t.Errorf("final answer has Link: %t, want %t (%v)", got, *tt.link, res.Header)
				}
				if !reflect.DeepEqual(informal, tt.informal) {
					t.Errorf("1xx seen by the caller %v, want %v", informal, tt.informal)
				}
				testkit.WaitFor(t, 5*time.Second, "access log", func() bool { return len(ts.logs.withMsg(t, "call")) == 1 })
				if got := ts.logs.withMsg(t, "call")[0]["status"]; got != float64(tt.status) {
					t.Errorf("access log status %v, want %d", got, tt.status)
				}
				m := ts.metrics()
				series := fmt.Sprintf(`http_requests_total{code="%d",method="get"}`, tt.status)
				if v := metricIn(t, m, series); v != 1 {
					t.Errorf("%s = %v, want 1", series, v)
				}
				for _, code := range tt.informal {
					if strings.Contains(m, fmt.Sprintf(`code="%d"`, code)) {
						t.Errorf("the %d is counted as an answer:\n%s", code, m)
					}
				}
			})
		}
	}
}
