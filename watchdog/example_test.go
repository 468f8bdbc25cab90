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

// A function server on local ports, stopped by cancelling its context. In a
// template's main.go, watchdog.Main(handler) does all of this with the
// process environment, ports 8080 and 8081, and SIGTERM.
func ExampleServe() {
	fn, _ := net.Listen("tcp", "127.0.0.1:0")
	metrics, _ := net.Listen("tcp", "127.0.0.1:0")

	cfg := watchdog.DefaultConfig()
	cfg.SuppressLock = true // no /tmp/.lock outside a container
	cfg.HealthcheckInterval = 10 * time.Millisecond

	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- watchdog.Serve(ctx, hello,
			watchdog.WithConfig(cfg),
			watchdog.WithListeners(fn, metrics),
			watchdog.WithLogger(slog.New(slog.DiscardHandler)))
	}()

	res, err := http.Get("http://" + fn.Addr().String() + "/orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Println(res.StatusCode, string(body))

	stop()
	fmt.Println("Serve returned:", <-done)
	// Output:
	// 200 hello from /orders
	// Serve returned: <nil>
}

// Logger(ctx) ties a handler's log lines to its call: each carries the
// call's id, here the gateway's X-Call-Id.
func ExampleLogger() {
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
		watchdog.Logger(r.Context()).Warn("slow upstream", "ms", 1200)
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
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
	}
	stop()
	<-done
	// Output:
	// level=WARN msg="slow upstream" call_id=a1b2c3 ms=1200
}

// ConfigFromEnv reads of-watchdog's variables: whole numbers are seconds,
// and read and write timeouts follow exec_timeout unless set.
func ExampleConfigFromEnv() {
	cfg, err := watchdog.ConfigFromEnv([]string{"exec_timeout=30", "max_inflight=10", "healthcheck_interval=5s"})
	fmt.Println(err)
	fmt.Println(cfg.ExecTimeout, cfg.ReadTimeout, cfg.WriteTimeout, cfg.HealthcheckInterval, cfg.MaxInflight)

	// Every bad variable is reported, one per line.
	_, err = watchdog.ConfigFromEnv([]string{"write_timeout=banana", "port=0"})
	fmt.Println(err)
	// Output:
	// <nil>
	// 30s 30.1s 30.1s 5s 10
	// port="0": want a TCP port from 1 to 65535
	// write_timeout="banana": want seconds (e.g. 10) or a Go duration (e.g. 10s)
}
