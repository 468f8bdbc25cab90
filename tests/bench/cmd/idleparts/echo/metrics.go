//go:build metrics

package main

import (
	"bufio"
	"net/http"

	"github.com/VictoriaMetrics/metrics"
)

// As the watchdog: two Sets of its own (one per family, empty until a call
// is counted, and idleparts makes none), served with the process and Go
// runtime series on the second port.
func init() {
	total, duration := metrics.NewSet(), metrics.NewSet()
	second = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := bufio.NewWriter(w)
		total.WritePrometheus(bw)
		duration.WritePrometheus(bw)
		metrics.WriteProcessMetrics(bw)
		_ = bw.Flush()
	})
}
