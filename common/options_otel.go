//go:build otel

package main

import (
	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/otelwatchdog"
)

// OpenTelemetry: a span per call, exported over OTLP as the OTEL_*
// variables say; the "otel" build tag selects this file, adding the SDK
// and the OTLP exporters to the binary (docs/tracing.md has the size).
func init() { options = append(options, watchdog.WithCallObserver(otelwatchdog.New)) }
