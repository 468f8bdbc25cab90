package watchdog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/internal/testkit"
	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

// The hardening tests drive one in-process Server through overload, faults
// and bad input, and check that it keeps serving, answers what it should and
// leaves no goroutine, limiter slot or in-flight count behind.

// startHard serves h with the watchdog configured by env, JSON logs and
// none of the hooks or metrics registered elsewhere, until the test ends.
func startHard(t *testing.T, h http.Handler, env ...string) *watchdogtest.Server {
	t.Helper()
	return watchdogtest.NewWith(t, h, watchdogtest.Options{Env: append([]string{"log_format=json"}, env...), SkipRegistered: true})
}

// status is the status of GET path, or 0 if the request failed.
func status(s *watchdogtest.Server, path string) int {
	code, _, _ := s.Do("GET", path, nil, nil)
	return code
}

// countLogs is how many records s logged with msg.
func countLogs(t *testing.T, s *watchdogtest.Server, msg string) int {
	t.Helper()
	return len(slices.DeleteFunc(testkit.Messages(s.LogRecords(t)), func(m string) bool { return m != msg }))
}

// goroutineBaseline is the number of goroutines once the server is idle: the
// test's idle connections are closed and the server's connection goroutines
// have ended.
func goroutineBaseline(s *watchdogtest.Server) int {
	s.Client.CloseIdleConnections()
	// Give the server's connection goroutines a moment to see the close.
	n := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		time.Sleep(10 * time.Millisecond)
		if m := runtime.NumGoroutine(); m < n {
			n, i = m, 0
		}
	}
	return n
}

// checkGoroutinesSettle fails the test unless the goroutine count comes back
// to baseline or below, once the test's idle connections are closed.
func checkGoroutinesSettle(t *testing.T, s *watchdogtest.Server, baseline int) {
	t.Helper()
	s.Client.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines 5s later, %d before: leaked?\n%s", runtime.NumGoroutine(), baseline, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPanicStorm: 1,000 panicking calls from 16 concurrent callers get 1,000
// answers of 500; the server keeps serving, counts nothing in flight, and
// has all of its max_inflight slots back.
func TestPanicStorm(t *testing.T) {
	const (
		calls   = 1000
		callers = 16
	)
	var (
		entered atomic.Int64
		full    = make(chan struct{})
		fullOne sync.Once
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic(fmt.Sprintf("storm %s", r.URL.RawQuery))
		case "/burst":
			// Hold every call until all callers are in at once: only
			// possible if no slot leaked.
			if entered.Add(1) == callers {
				fullOne.Do(func() { close(full) })
			}
			select {
			case <-full:
			case <-time.After(5 * time.Second):
			}
		}
		_, _ = io.WriteString(w, "ok")
	})
	s := startHard(t, h, "max_inflight="+strconv.Itoa(callers))
	baseline := goroutineBaseline(s)

	var next atomic.Int64
	codes := make([]map[int]int, callers)
	var wg sync.WaitGroup
	for c := range callers {
		codes[c] = map[int]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > calls {
					return
				}
				code, _, err := s.Do("GET", "/panic?"+strconv.FormatInt(n, 10), nil, nil)
				if err != nil {
					t.Errorf("call %d: %v", n, err)
				}
				codes[c][code]++
			}
		}()
	}
	wg.Wait()
	total := map[int]int{}
	for _, m := range codes {
		for code, n := range m {
			total[code] += n
		}
	}
	if total[http.StatusInternalServerError] != calls || len(total) != 1 {
		t.Fatalf("answers by status: %v, want %d of 500", total, calls)
	}
	if code := status(s, "/_/health"); code != http.StatusOK {
		t.Fatalf("/_/health after the storm: %d, want 200", code)
	}

	s.WaitMetric(t, "http_requests_in_flight", 0)
	if got := s.Metric(t, `http_requests_total{code="500",method="get"}`); got != calls {
		t.Errorf(`http_requests_total{code="500",method="get"} = %g, want %d`, got, calls)
	}
	if n := countLogs(t, s, "handler panicked"); n != calls {
		t.Errorf("%d 'handler panicked' log records, want %d", n, calls)
	}
	if code := status(s, "/_/ready"); code != http.StatusOK {
		t.Errorf("/_/ready after the storm: %d, want 200", code)
	}

	// Every slot is free: 16 calls at once all get in.
	burst := make([]int, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			burst[i], _, _ = s.Do("GET", "/burst", nil, nil)
		}()
	}
	wg.Wait()
	for i, code := range burst {
		if code != http.StatusOK {
			t.Errorf("burst call %d: %d, want 200 (a max_inflight slot leaked)", i, code)
		}
	}
	select {
	case <-full:
	default:
		t.Errorf("only %d of %d burst calls were in the handler at once", entered.Load(), callers)
	}
	checkGoroutinesSettle(t, s, baseline)
}

// TestHandlersThatNeverReturn: with exec_timeout, callers of handlers that
// ignore their context get 504 at the deadline; the server keeps serving,
// their slots are free, and watchdog_overdue_handlers counts them until they
// return.
func TestHandlersThatNeverReturn(t *testing.T) {
	const (
		stuck       = 5
		execTimeout = 300 * time.Millisecond
	)
	release := make(chan struct{})
	var releaseOnce sync.Once
	open := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(open)
	var returned atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stuck" {
			defer returned.Add(1)
			<-release // ignores its context, as a stuck handler does
			_, _ = io.WriteString(w, "late")
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	// write_timeout well past exec_timeout: the 504s are not cut.
	s := startHard(t, h, "exec_timeout="+execTimeout.String(), "read_timeout=10s", "write_timeout=10s",
		"max_inflight="+strconv.Itoa(stuck))
	baseline := goroutineBaseline(s)

	type answer struct {
		code    int
		body    string
		elapsed time.Duration
		err     error
	}
	answers := make([]answer, stuck)
	var wg sync.WaitGroup
	for i := range stuck {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			code, body, err := s.Do("GET", "/stuck", nil, nil)
			answers[i] = answer{code, body, time.Since(start), err}
		}()
	}
	wg.Wait()
	for i, a := range answers {
		if a.err != nil || a.code != http.StatusGatewayTimeout {
			t.Errorf("stuck call %d: %d %q %v, want 504", i, a.code, a.body, a.err)
		}
		if a.elapsed < execTimeout {
			t.Errorf("stuck call %d answered after %s, before exec_timeout (%s)", i, a.elapsed, execTimeout)
		}
	}
	if got := s.Metric(t, "watchdog_overdue_handlers"); got != stuck {
		t.Errorf("watchdog_overdue_handlers = %g with %d handlers stuck, want %d", got, stuck, stuck)
	}
	// Overdue handlers still run, so they stay in flight and keep their
	// max_inflight slots: the limit bounds the work actually running.
	if got := s.Metric(t, "http_requests_in_flight"); got != stuck {
		t.Errorf("http_requests_in_flight = %g with %d handlers still running, want %d", got, stuck, stuck)
	}
	if n := countLogs(t, s, "exec_timeout: no answer from the handler in time; answered 504, handler still running"); n != stuck {
		t.Errorf("%d exec_timeout warnings, want %d", n, stuck)
	}

	// Still answering at once, with 429 while every slot is held by a
	// handler that runs on, and /_/ready says so.
	if code := status(s, "/_/ready"); code != http.StatusTooManyRequests {
		t.Errorf("/_/ready with every slot held by an overdue handler: %d, want 429", code)
	}
	if code, _, _ := s.Do("GET", "/", nil, nil); code != http.StatusTooManyRequests {
		t.Errorf("a call beside %d overdue handlers with max_inflight=%d: %d, want 429", stuck, stuck, code)
	}
	if n := returned.Load(); n != 0 {
		t.Fatalf("%d stuck handlers returned before being released", n)
	}

	open()
	s.WaitMetric(t, "watchdog_overdue_handlers", 0)
	if n := returned.Load(); n != stuck {
		t.Errorf("%d of %d handlers returned after release", n, stuck)
	}
	s.WaitMetric(t, "http_requests_in_flight", 0)
	if code := status(s, "/_/ready"); code != http.StatusOK {
		t.Errorf("/_/ready once the handlers returned: %d, want 200", code)
	}
	if code, body, _ := s.Do("GET", "/", nil, nil); code != http.StatusOK || body != "ok" {
		t.Errorf("a call once the handlers returned: %d %q, want 200", code, body)
	}
	checkGoroutinesSettle(t, s, baseline)
}

// TestClientDisconnect: a caller that hangs up cancels its handler's
// context, the call is counted and logged as 499, and nothing of it stays
// behind: no goroutine, no limiter slot, no in-flight count. With and without exec_timeout.
func TestClientDisconnect(t *testing.T) {
	for _, execTimeout := range []time.Duration{0, 10 * time.Second} {
		t.Run("exec_timeout="+execTimeout.String(), func(t *testing.T) {
			entered := make(chan struct{}, 1)
			observed := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/wait" {
					_, _ = io.WriteString(w, "ok")
					return
				}
				entered <- struct{}{}
				select {
				case <-r.Context().Done():
					observed <- r.Context().Err()
				case <-time.After(20 * time.Second):
					observed <- errors.New("the context was not done within 20s of the caller leaving")
				}
			})
			s := startHard(t, h, "exec_timeout="+execTimeout.String(), "max_inflight=1")
			baseline := goroutineBaseline(s)

			conn, err := net.Dial("tcp", s.Addr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(conn, "GET /wait HTTP/1.1\r\nHost: fn\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			select {
			case <-entered:
			case <-time.After(5 * time.Second):
				t.Fatal("the handler was not called within 5s")
			}
			if code := status(s, "/_/ready"); code != http.StatusTooManyRequests {
				t.Errorf("/_/ready with the one slot taken: %d, want 429", code)
			}
			conn.Close()
			if err := <-observed; !errors.Is(err, context.Canceled) {
				t.Errorf("the handler saw %v, want context.Canceled", err)
			}
			testkit.WaitFor(t, 5*time.Second, "/_/ready 200", func() bool { return status(s, "/_/ready") == http.StatusOK })
			s.WaitMetric(t, "http_requests_in_flight", 0)
			// Counted and logged as 499, whoever noticed first: nothing
			// reached the caller, so not the implicit 200 of a handler
			// that returned without writing.
			if got, ok := s.LookupMetric(t, `http_requests_total{code="200",method="get"}`); ok {
				t.Errorf(`http_requests_total{code="200",method="get"} = %g for a call whose caller left, want none`, got)
			}
			if got := s.Metric(t, `http_requests_total{code="499",method="get"}`); got != 1 {
				t.Errorf(`http_requests_total{code="499",method="get"} = %g, want 1`, got)
			}
			for _, r := range s.LogRecords(t) {
				if r["msg"] == "call" && r["path"] == "/wait" && r["status"] != float64(499) {
					t.Errorf("access log: status %v for the call whose caller left, want 499", r["status"])
				}
			}
			if got := s.Metric(t, "watchdog_overdue_handlers"); got != 0 {
				t.Errorf("watchdog_overdue_handlers = %g, want 0", got)
			}
			if code := status(s, "/"); code != http.StatusOK {
				t.Errorf("the next call: %d, want 200", code)
			}
			checkGoroutinesSettle(t, s, baseline)
		})
	}
}

// rawExchange writes req on a new connection and reads until the server
// closes it or 10s pass. closed is false if the connection was still open.
func rawExchange(t *testing.T, addr string, req []byte) (answer string, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(conn)
	var nerr net.Error
	timedOut := errors.As(err, &nerr) && nerr.Timeout()
	return string(b), !timedOut
}

// TestBadInput: malformed and hostile requests get their 4xx or a closed
// connection; none stops the server or leaves a goroutine behind, and a
// huge call id reaches the logs cut to 128 bytes.
func TestBadInput(t *testing.T) {
	const readTimeout = 500 * time.Millisecond // header timeout follows it
	var calls atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			code := http.StatusBadRequest
			if watchdog.IsBodyTooLarge(err) {
				code = http.StatusRequestEntityTooLarge
			}
			http.Error(w, err.Error(), code)
			return
		}
		_, _ = w.Write(body)
	})
	s := startHard(t, h, "read_timeout="+readTimeout.String(), "write_timeout=5s", "exec_timeout=2s", "max_body_bytes=1024")
	baseline := goroutineBaseline(s)

	t.Run("oversized headers", func(t *testing.T) {
		before := calls.Load()
		hdr := http.Header{"X-Big": {strings.Repeat("h", 2<<20)}}
		code, _, err := s.Do("GET", "/", nil, hdr)
		if err != nil || code != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("2 MB of headers: %d %v, want 431", code, err)
		}
		if calls.Load() != before {
			t.Errorf("the handler was called")
		}
	})

	t.Run("slowloris", func(t *testing.T) {
		// Before the dial: the server's header timeout starts once it has
		// accepted, which can come before Dial returns here.
		start := time.Now()
		conn, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		closed := make(chan error, 1)
		go func() {
			_, err := io.ReadAll(conn) // returns when the server closes
			closed <- err
		}()
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: fn\r\n"); err != nil {
			t.Fatal(err)
		}
		// One header line every 100ms, for up to 10s: twenty times the
		// header timeout.
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case err := <-closed:
				if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
					t.Errorf("reading: %v", err)
				}
				elapsed := time.Since(start)
				if elapsed < readTimeout {
					t.Errorf("closed after %s, before the header timeout (%s)", elapsed, readTimeout)
				}
				t.Logf("connection closed after %s and %d header lines", elapsed.Round(time.Millisecond), i)
				return
			case <-tick.C:
				if i == 100 {
					t.Fatalf("connection still open after 10s of trickled headers (header timeout %s)", readTimeout)
				}
				_, _ = fmt.Fprintf(conn, "X-Trickle-%d: x\r\n", i)
			}
		}
	})

	t.Run("body over max_body_bytes", func(t *testing.T) {
		before := calls.Load()
		big := bytes.Repeat([]byte("b"), 4096)
		code, body, err := s.Do("POST", "/", bytes.NewReader(big), nil)
		if err != nil || code != http.StatusRequestEntityTooLarge {
			t.Errorf("declared 4096 bytes: %d %q %v, want 413", code, body, err)
		}
		if calls.Load() != before {
			t.Errorf("the handler was called for a declared body over the limit")
		}
		// Chunked, so the length is unknown until read: the handler's read
		// fails at the limit.
		code, body, err = s.Do("POST", "/", io.MultiReader(bytes.NewReader(big)), nil)
		if err != nil || code != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked 4096 bytes: %d %q %v, want 413", code, body, err)
		}
		code, _, err = s.Do("POST", "/", bytes.NewReader(big[:1024]), nil)
		if err != nil || code != http.StatusOK {
			t.Errorf("a body at the limit: %d %v, want 200", code, err)
		}
	})

	t.Run("malformed X-Timeout", func(t *testing.T) {
		before := calls.Load()
		for _, v := range []string{"abc", "-1s", "0", "1e9", "10parsecs", strings.Repeat("9", 40), "1s; drop table"} {
			code, body, err := s.Do("GET", "/", nil, http.Header{"X-Timeout": {v}})
			if err != nil || code != http.StatusBadRequest {
				t.Errorf("X-Timeout %q: %d %q %v, want 400", v, code, body, err)
			}
		}
		if calls.Load() != before {
			t.Errorf("the handler was called")
		}
	})

	t.Run("10 KB call id", func(t *testing.T) {
		id := strings.Repeat("i", 10<<10)
		code, _, err := s.Do("GET", "/", nil, http.Header{"X-Call-Id": {id}})
		if err != nil || code != http.StatusOK {
			t.Fatalf("%d %v, want 200", code, err)
		}
		rec := s.WaitLog(t, "for the call", func(r map[string]any) bool {
			id, _ := r["call_id"].(string)
			return r["msg"] == "call" && strings.HasPrefix(id, "iii")
		})
		logged := rec["call_id"].(string)
		if !strings.HasPrefix(logged, strings.Repeat("i", 128)) || strings.HasPrefix(logged, strings.Repeat("i", 129)) {
			t.Errorf("logged call id %.40q... of %d bytes: want the first 128 bytes of the id, marked as cut", logged, len(logged))
		}
		if strings.Contains(s.Logs(), strings.Repeat("i", 129)) {
			t.Errorf("more than 128 bytes of the call id reached the logs")
		}
	})

	t.Run("invalid HTTP", func(t *testing.T) {
		before := calls.Load()
		for name, req := range map[string]string{
			"binary garbage":     "\x00\x01\x02\xff\xfe garbage\r\n\r\n",
			"no method":          " / HTTP/1.1\r\nHost: fn\r\n\r\n",
			"header without ':'": "GET / HTTP/1.1\r\nHost: fn\r\nnot a header\r\n\r\n",
			"bad content-length": "POST / HTTP/1.1\r\nHost: fn\r\nContent-Length: -5\r\n\r\n",
			"two content-length": "POST / HTTP/1.1\r\nHost: fn\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		} {
			answer, closed := rawExchange(t, s.Addr, []byte(req))
			if !strings.HasPrefix(answer, "HTTP/1.1 400 ") {
				t.Errorf("%s: answer %.80q, want 400 Bad Request", name, answer)
			}
			if !closed {
				t.Errorf("%s: connection still open after the 400", name)
			}
		}
		if calls.Load() != before {
			t.Errorf("the handler was called")
		}
	})

	if code := status(s, "/_/health"); code != http.StatusOK {
		t.Errorf("/_/health after the bad input: %d, want 200", code)
	}
	if code, body, err := s.Do("POST", "/", strings.NewReader("still here"), nil); code != http.StatusOK || body != "still here" {
		t.Errorf("a good call after the bad input: %d %q %v", code, body, err)
	}
	checkGoroutinesSettle(t, s, baseline)
}
