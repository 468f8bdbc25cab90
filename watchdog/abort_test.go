package watchdog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// sse writes Server-Sent Events every 20ms, up to 1000: one handler that
// stops at its context's end, once a write fails, and one that ignores it
// and writes on until release is closed. Each reports the first write or
// flush error it met.
func sse(honour bool, release <-chan struct{}, writeErr chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		start := time.Now()
		var first error
		for i := 0; i < 1000; i++ {
			_, err := fmt.Fprintf(w, "data: %d\n\n", i)
			if err == nil {
				err = rc.Flush()
			}
			if err != nil && first == nil {
				first = err
			}
			if honour {
				select {
				case <-r.Context().Done():
					// The cut follows at once, on the deadline's timer.
					for err == nil && time.Since(start) < 10*time.Second {
						_, err = io.WriteString(w, "data: late\n\n")
						time.Sleep(time.Millisecond)
					}
					writeErr <- err
					return
				case <-time.After(20 * time.Millisecond):
				}
				continue
			}
			select {
			case <-release:
				if first == nil {
					_, first = io.WriteString(w, "data: late\n\n")
				}
				writeErr <- first
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		writeErr <- errors.New("the handler wrote 1000 events and the deadline never cut them")
	})
}

// At the deadline a stream is cut whether or not its handler honours its
// context: the caller's client reads an error, never a clean end; the
// handler's writes fail naming the deadline; a handler still running is
// overdue until it returns; the access line and the metrics say so.
func TestExecTimeoutCutsStream(t *testing.T) {
	const exec = 300 * time.Millisecond
	for _, honour := range []bool{true, false} {
		t.Run(fmt.Sprintf("honours its context=%t", honour), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ExecTimeout = exec
			release := make(chan struct{})
			writeErr := make(chan error, 1)
			ts := startServer(t, cfg, sse(honour, release, writeErr))
			released := false
			t.Cleanup(func() {
				if !released {
					close(release)
				}
			})
			start := time.Now()
			res, err := ts.client.Do(ts.request("GET", "/events", nil, CallIDHeader, "call-cut"))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			took := time.Since(start)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("reading the stream: %v after %q, want unexpected EOF", err, body)
			}
			if took < exec {
				t.Errorf("cut after %s, before the deadline (%s)", took, exec)
			}
			if res.StatusCode != 200 || !strings.HasPrefix(string(body), "data: 0\n\n") {
				t.Errorf("stream = %d %q, want 200 with the events sent before the deadline", res.StatusCode, body)
			}
			if !honour {
				// Still running: overdue, in flight, not yet logged.
				if v := ts.metric("watchdog_overdue_handlers"); v != 1 {
					t.Errorf("watchdog_overdue_handlers while the handler runs on = %v, want 1", v)
				}
				if v := ts.metric("http_requests_in_flight"); v != 1 {
					t.Errorf("in flight while the handler runs on = %v, want 1", v)
				}
				warn := ts.logs.withMsg(t, "exec_timeout: the deadline passed after the answer began; cut it (connection closed), handler still running")
				if len(warn) != 1 || warn[0]["call_id"] != "call-cut" {
					t.Errorf("cut warning: %v", warn)
				}
				released = true
				close(release)
			}
			select {
			case err := <-writeErr:
				if !errors.Is(err, errCut) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "exec_timeout") {
					t.Errorf("the handler's write after the cut: %v, want errCut, naming exec_timeout", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the handler did not return")
			}
			testkit.WaitFor(t, 5*time.Second, "the access line", func() bool { return len(ts.logs.withMsg(t, "call")) == 1 })
			if l := ts.logs.withMsg(t, "call")[0]; l["status"] != 200.0 || l["aborted"] != "exec_timeout" || l["call_id"] != "call-cut" {
				t.Errorf("access line %v, want status 200, aborted exec_timeout", l)
			}
			// Counted once out of flight: in flight is the last to change.
			testkit.WaitFor(t, 5*time.Second, "out of flight", func() bool { return ts.metric("http_requests_in_flight") == 0 })
			scrape := ts.metrics()
			for series, want := range map[string]float64{
				"watchdog_overdue_handlers":                                    0,
				`watchdog_aborted_answers_total{reason="exec_timeout"}`:        1,
				`watchdog_aborted_answers_total{reason="panic"}`:               0,
				`http_requests_total{code="200",method="get"}`:                 1,
				`http_request_duration_seconds_count{code="200",method="get"}`: 1,
				"http_requests_in_flight":                                      0,
			} {
				if v := metricIn(t, scrape, series); v != want {
					t.Errorf("%s = %v, want %v", series, v, want)
				}
			}
		})
	}
}

// A stream that ends inside its deadline ends cleanly, every event there.
func TestStreamInsideDeadlineEndsCleanly(t *testing.T) {
	cfg := testConfig(t)
	cfg.ExecTimeout = 5 * time.Second
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 5 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			if err := http.NewResponseController(w).Flush(); err != nil {
				return
			}
		}
	})
	ts := startServer(t, cfg, h)
	res, err := ts.client.Get(ts.url + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var events []string
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			events = append(events, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("a stream inside its deadline: %v, want a clean end", err)
	}
	if got := strings.Join(events, ","); got != "data: 0,data: 1,data: 2,data: 3,data: 4" {
		t.Errorf("events %q", got)
	}
	testkit.WaitFor(t, 5*time.Second, "the access line", func() bool { return len(ts.logs.withMsg(t, "call")) == 1 })
	if l := ts.logs.withMsg(t, "call")[0]; l["status"] != 200.0 || l["aborted"] != nil {
		t.Errorf("access line %v, want status 200 and no aborted", l)
	}
	if v := ts.metric(`watchdog_aborted_answers_total{reason="exec_timeout"}`); v != 0 {
		t.Errorf("aborted answers = %v, want 0", v)
	}
}

// deadlineRecorder notes the write deadlines set on it.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	set []time.Time
}

func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	d.set = append(d.set, t)
	return nil
}

// write_timeout is granted again on each flush, but never past the call's
// deadline (with the room for the 504): a stream can't outlive
// exec_timeout by flushing.
func TestFlushWriteDeadlineCapped(t *testing.T) {
	below := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	limit := time.Now().Add(time.Second)
	rec := newRecorder(below, time.Hour)
	rec.writeLimit = limit.UnixNano()
	_ = rec.FlushError()
	if len(below.set) != 1 || !below.set[0].Equal(time.Unix(0, limit.UnixNano())) {
		t.Errorf("write deadlines set %v, want %v", below.set, limit)
	}
	below.set = nil
	open := newRecorder(below, time.Hour) // no exec_timeout
	_ = open.FlushError()
	if len(below.set) != 1 || time.Until(below.set[0]) < 59*time.Minute {
		t.Errorf("without exec_timeout: write deadlines set %v, want write_timeout from now", below.set)
	}
}
