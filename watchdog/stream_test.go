package watchdog

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// Each chunk must reach a real client while the handler is still running:
// the handler waits for the client to have read chunk i before writing i+1.
func TestStreaming(t *testing.T) {
	for _, exec := range []time.Duration{0, 5 * time.Second} {
		for _, flush := range []string{"Flusher", "ResponseController"} {
			t.Run(fmt.Sprintf("exec_timeout=%s/%s", exec, flush), func(t *testing.T) {
				cfg := testConfig(t)
				cfg.ExecTimeout = exec
				read := make(chan struct{}, 3)
				handlerErr := make(chan error, 1)
				h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					f, ok := w.(http.Flusher)
					if !ok {
						handlerErr <- fmt.Errorf("%T is not an http.Flusher", w)
						return
					}
					w.Header().Set("Content-Type", "text/event-stream")
					for i := range 3 {
						fmt.Fprintf(w, "chunk %d\n", i)
						if flush == "Flusher" {
							f.Flush()
						} else if err := http.NewResponseController(w).Flush(); err != nil {
							handlerErr <- fmt.Errorf("ResponseController.Flush: %w", err)
							return
						}
						select {
						case <-read:
						case <-time.After(5 * time.Second):
							handlerErr <- fmt.Errorf("chunk %d not read by the client while the handler ran", i)
							return
						}
					}
					handlerErr <- nil
				})
				ts := startServer(t, cfg, h)
				res, err := ts.client.Get(ts.url + "/stream")
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
					t.Errorf("Content-Type %q", ct)
				}
				br := bufio.NewReader(res.Body)
				for i := range 3 {
					line, err := br.ReadString('\n')
					if err != nil {
						t.Fatalf("reading chunk %d: %v (handler: %v)", i, err, <-handlerErr)
					}
					if want := fmt.Sprintf("chunk %d\n", i); line != want {
						t.Fatalf("chunk %d = %q, want %q", i, line, want)
					}
					read <- struct{}{}
				}
				if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
					t.Errorf("after the chunks: %q, %v", rest, err)
				}
				if err := <-handlerErr; err != nil {
					t.Error(err)
				}
				if access := ts.logs.withMsg(t, "call"); len(access) != 1 || access[0]["bytes"] != 24.0 || access[0]["status"] != 200.0 {
					t.Errorf("access log of the stream: %v", access)
				}
			})
		}
	}
}

// Hijack works on HTTP/1 through the watchdog's writers, so WebSocket-style
// upgrades can be done by the function.
func TestHijack(t *testing.T) {
	for _, exec := range []time.Duration{0, 5 * time.Second} {
		t.Run("exec_timeout="+exec.String(), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ExecTimeout = exec
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, rw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					http.Error(w, "hijack: "+err.Error(), http.StatusInternalServerError)
					return
				}
				defer conn.Close()
				rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
				rw.Flush()
				line, err := rw.ReadString('\n')
				if err != nil {
					return
				}
				rw.WriteString("echo: " + line)
				rw.Flush()
			})
			ts := startServer(t, cfg, h)
			conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: fn\r\nConnection: Upgrade\r\nUpgrade: echo\r\nX-Call-Id: call-ws\r\n\r\n")
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusSwitchingProtocols {
				b, _ := io.ReadAll(res.Body)
				t.Fatalf("upgrade = %d %q", res.StatusCode, b)
			}
			fmt.Fprintf(conn, "hello\n")
			line, err := br.ReadString('\n')
			if err != nil || line != "echo: hello\n" {
				t.Fatalf("echo = %q, %v", line, err)
			}
			testkit.WaitFor(t, 2*time.Second, "access log", func() bool { return len(ts.logs.withMsg(t, "call")) == 1 })
			if l := ts.logs.withMsg(t, "call")[0]; l["status"] != 101.0 || l["call_id"] != "call-ws" {
				t.Errorf("access log of the upgrade: %v", l)
			}
		})
	}
}

// io.Copy into the watchdog's writers goes through their Write (bytes are
// counted, the exec-timeout guard holds) with a pooled buffer.
func TestIOCopyThroughWriters(t *testing.T) {
	payload := strings.Repeat("0123456789", 10<<10) // 100 KB, more than one buffer
	for _, exec := range []time.Duration{0, 5 * time.Second} {
		t.Run("exec_timeout="+exec.String(), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ExecTimeout = exec
			// HTTP/1 in net/http is not full duplex: read the body first.
			readThenCopy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				io.Copy(w, struct{ io.Reader }{bytes.NewReader(b)}) // no WriterTo: w's ReadFrom is used
			})
			ts := startServer(t, cfg, readThenCopy)
			res, body := ts.do(ts.request("POST", "/", strings.NewReader(payload)))
			if res.StatusCode != 200 || body != payload {
				t.Fatalf("echo = %d, %d bytes", res.StatusCode, len(body))
			}
			if l := ts.logs.withMsg(t, "call"); len(l) != 1 || l[0]["bytes"] != float64(len(payload)) {
				t.Errorf("access log bytes: %v", l)
			}

		})
	}
}

// The writers a handler sees keep io.Copy off a fresh 32 KB buffer per call.
func TestIOCopyBufferPooled(t *testing.T) {
	for name, w := range map[string]http.ResponseWriter{
		"recorder":      newRecorder(httptest.NewRecorder(), 0),
		"guardedWriter": &guardedWriter{w: newRecorder(httptest.NewRecorder(), 0)},
	} {
		src := strings.NewReader("small body")
		copyOnce := func() {
			src.Reset("small body")
			if _, err := io.Copy(w, struct{ io.Reader }{src}); err != nil { // like a request body: no WriterTo
				t.Fatal(err)
			}
		}
		copyOnce()
		const copies = 100
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range copies {
			copyOnce()
		}
		runtime.ReadMemStats(&after)
		// Half a buffer: under -race sync.Pool drops a quarter of what is Put.
		if perCopy := (after.TotalAlloc - before.TotalAlloc) / copies; perCopy > 16<<10 {
			t.Errorf("%s: io.Copy allocates %d bytes per call", name, perCopy)
		}
	}
}
