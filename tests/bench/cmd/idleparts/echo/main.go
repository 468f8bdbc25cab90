// Command echo is bare net/http's echo server plus the start-up parts of the
// watchdog chosen by build tags (metrics, uuid, slog, signal), so idleparts
// can measure what each adds to idle memory. It serves on $port and, with
// the metrics tag, on $metrics_port.
package main

import (
	"io"
	"net/http"
	"os"
)

// parts run before serving; each tagged file adds one.
var parts []func()

func main() {
	for _, p := range parts {
		p()
	}
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(w, r.Body) })
	if err := http.ListenAndServe(":"+os.Getenv("port"), echo); err != nil {
		os.Exit(1)
	}
}
