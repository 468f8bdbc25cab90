// Command echo is bare net/http's echo server plus the start-up parts of the
// watchdog chosen by build tags (port2, metricsinit, metrics, callid, slog,
// signal; detail_* for idleparts -detail's pieces), so idleparts can measure
// what each adds to idle memory. It serves on $port and, with the port2 or
// metrics tag, on $metrics_port too.
package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// parts run before serving; each tagged file adds one.
var parts []func()

// second, when a tagged file sets it, is served on $metrics_port as the
// watchdog serves its metrics: a listener and an http.Server of its own.
var second http.Handler

func main() {
	for _, p := range parts {
		p()
	}
	if second != nil {
		ln, err := net.Listen("tcp", ":"+os.Getenv("metrics_port"))
		if err != nil {
			os.Exit(1)
		}
		srv := &http.Server{Handler: second, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
	}
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(w, r.Body) })
	if err := http.ListenAndServe(":"+os.Getenv("port"), echo); err != nil {
		os.Exit(1)
	}
}
