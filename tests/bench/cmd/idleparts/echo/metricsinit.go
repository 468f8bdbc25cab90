//go:build metricsinit

package main

import "github.com/VictoriaMetrics/metrics"

// The metrics library alone: its package init and the watchdog's two Sets,
// kept live, with no second port; its cost without the listener's.
var sets []*metrics.Set

func init() {
	parts = append(parts, func() { sets = append(sets, metrics.NewSet(), metrics.NewSet()) })
}
