//go:build detail_runtimemetrics

package main

import rtmetrics "runtime/metrics"

// A piece of the metrics library's package init (idleparts -detail):
// runtime/metrics' descriptions indexed by name.
var runtimeMetricNames = map[string]struct{}{}

func init() {
	parts = append(parts, func() {
		for _, d := range rtmetrics.All() {
			runtimeMetricNames[d.Name] = struct{}{}
		}
	})
}
