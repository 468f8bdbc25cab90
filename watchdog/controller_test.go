package watchdog_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

// configurations the streaming tests run under: the default exec_timeout
// (10s, so the guarded writer is in the chain) and none. write_timeout is
// shortened only so that a stream outlasts it quickly.
var streamConfigs = []struct {
	name string
	env  []string
}{
	{"default exec_timeout", []string{"write_timeout=1s"}},
	{"exec_timeout=0", []string{"write_timeout=1s", "exec_timeout=0"}},
}

const streamWriteTimeout = time.Second // as in streamConfigs

// An SSE stream outlasts write_timeout by setting its own write deadline
// through http.ResponseController, and that deadline is the one that holds:
// the pauses between events are longer than write_timeout, and each event is
// larger than net/http's buffers, so it reaches the connection before the
// flush; a watchdog that put write_timeout back at each flush would cut it.
func TestSSEOutlastsWriteTimeout(t *testing.T) {
	const events = 3
	pause := streamWriteTimeout * 3 / 2
	payload := strings.Repeat("x", 16<<10)
	for _, c := range streamConfigs {
		t.Run(c.name, func(t *testing.T) {
			handlerErr := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				// Generous: the stream needs (events-1)*pause.
				if err := rc.SetWriteDeadline(time.Now().Add(20 * time.Second)); err != nil {
					handlerErr <- fmt.Errorf("SetWriteDeadline through %T: %w", w, err)
					return
				}
				w.Header().Set("Content-Type", "text/event-stream")
				for i := range events {
					if i > 0 {
						// The pause is what is tested, not a wait for
						// another goroutine: the stream is idle this long.
						select {
						case <-time.After(pause):
						case <-r.Context().Done():
							handlerErr <- fmt.Errorf("event %d: %w", i, r.Context().Err())
							return
						}
					}
					fmt.Fprintf(w, "data: %d %s\n\n", i, payload)
					if err := rc.Flush(); err != nil {
						handlerErr <- fmt.Errorf("event %d: Flush: %w", i, err)
						return
					}
				}
				handlerErr <- nil
			})
			srv := watchdogtest.New(t, h, c.env...)
			res, err := http.Get(srv.URL + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("answer %s, Content-Type %q", res.Status, res.Header.Get("Content-Type"))
			}
			br := bufio.NewReader(res.Body)
			var first time.Time
			for i := range events {
				var event strings.Builder
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						t.Fatalf("event %d: %v after %d bytes (handler: %v)", i, err, event.Len(), <-handlerErr)
					}
					if line == "\n" {
						break
					}
					event.WriteString(line)
				}
				if want := fmt.Sprintf("data: %d %s\n", i, payload); event.String() != want {
					t.Fatalf("event %d = %d bytes %.20q..., want %d bytes %.20q...", i, event.Len(), event.String(), len(want), want)
				}
				if i == 0 {
					first = time.Now()
				}
			}
			if lasted := time.Since(first); lasted <= streamWriteTimeout {
				t.Errorf("the stream lasted %s, not more than write_timeout (%s): nothing tested", lasted, streamWriteTimeout)
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Errorf("after the events: %q, %v", rest, err)
			}
			if err := <-handlerErr; err != nil {
				t.Error(err)
			}
		})
	}
}

// A full-duplex handler echoes each line of the request body while the
// caller is still sending it: the caller sends line i+1 only after it has
// read the echo of line i.
func TestFullDuplexEcho(t *testing.T) {
	const lines = 3
	for _, c := range streamConfigs {
		t.Run(c.name, func(t *testing.T) {
			handlerErr := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				if err := rc.EnableFullDuplex(); err != nil {
					handlerErr <- fmt.Errorf("EnableFullDuplex through %T: %w", w, err)
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				br := bufio.NewReader(r.Body)
				for {
					line, err := br.ReadString('\n')
					if err == io.EOF && line == "" {
						handlerErr <- nil
						return
					}
					if err != nil {
						handlerErr <- fmt.Errorf("reading the body: %w", err)
						return
					}
					io.WriteString(w, "echo: "+line)
					if err := rc.Flush(); err != nil {
						handlerErr <- fmt.Errorf("Flush: %w", err)
						return
					}
				}
			})
			srv := watchdogtest.New(t, h, c.env...)
			conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			chunk := func(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }
			fmt.Fprintf(conn, "POST /echo HTTP/1.1\r\nHost: fn\r\nTransfer-Encoding: chunked\r\n\r\n%s", chunk("line 0\n"))
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer while the body is still open: %v", err)
			}
			if res.StatusCode != 200 {
				b, _ := io.ReadAll(res.Body)
				t.Fatalf("answer %s %q (handler: %v)", res.Status, b, <-handlerErr)
			}
			echoes := bufio.NewReader(res.Body)
			for i := range lines {
				if i > 0 {
					io.WriteString(conn, chunk(fmt.Sprintf("line %d\n", i)))
				}
				got, err := echoes.ReadString('\n')
				if want := fmt.Sprintf("echo: line %d\n", i); got != want || err != nil {
					t.Fatalf("echo %d = %q, %v; want %q", i, got, err, want)
				}
			}
			io.WriteString(conn, "0\r\n\r\n") // the end of the body
			if rest, err := io.ReadAll(echoes); err != nil || len(rest) != 0 {
				t.Errorf("after the echoes: %q, %v", rest, err)
			}
			if err := <-handlerErr; err != nil {
				t.Error(err)
			}
		})
	}
}
