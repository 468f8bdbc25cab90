//go:build metrics

package main

import (
	"io"
	"net"
	"net/http"
	"os"

	"github.com/VictoriaMetrics/metrics"
)

// As the watchdog: a Set of its own with a histogram, served with the
// process and Go runtime series on a second port.
func init() {
	parts = append(parts, func() {
		set := metrics.NewSet()
		set.NewHistogram(`http_request_duration_seconds{code="200"}`).Update(0.001)
		ln, err := net.Listen("tcp", ":"+os.Getenv("metrics_port"))
		if err != nil {
			os.Exit(1)
		}
		go func() {
			_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				set.WritePrometheus(w)
				metrics.WriteProcessMetrics(w)
				_, _ = io.WriteString(w, "")
			}))
		}()
	})
}
