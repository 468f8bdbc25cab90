package main

import "github.com/inproc-go/templates/watchdog"

// options are what main passes to watchdog.Main: none in a default build.
// Each build tag's file adds its own from init, so tags combine
// (GOFLAGS=-tags=jwt,otel): options_jwt.go adds jwt_auth support,
// options_otel.go OpenTelemetry tracing.
var options []watchdog.Option
