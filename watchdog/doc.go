// Package watchdog is the OpenFaaS watchdog as a library: it turns an
// http.Handler into a function server that honours the OpenFaaS function
// contract in the function's own process, with no second process and no
// second HTTP hop.
//
// # Serving a function
//
// A template's main.go is one call:
//
//	func main() {
//		watchdog.Main(http.HandlerFunc(function.Handle))
//	}
//
// Main reads the of-watchdog environment variables (exec_timeout,
// write_timeout, max_inflight, ...; see ConfigFromEnv and Config), serves the
// handler on the function port with /_/health and /_/ready, and the metrics
// on :8081/metrics, and drains on SIGTERM. New and Serve do the same for a
// program that wants its own options or context, without process-wide state
// (see ExampleServe); several Servers can run in one process.
//
// # What a handler sees
//
// Each call runs under exec_timeout: r.Context() carries the call's deadline
// and ends at it, and the watchdog answers 504 in place of a handler that
// has not answered by then (exectimeout.go states the whole contract). A
// panic is answered 500 and logged with its stack; the process lives on.
// Logger(ctx) logs with the call's id (ExampleLogger); CallID and
// TraceContext give the call's id and W3C trace (ExampleTraceContext);
// Secret reads an OpenFaaS secret (ExampleSecrets_Read).
//
// JSON turns a typed function into a handler, with Error for its status
// codes (ExampleJSON, ExampleError).
//
// # Hooks and metrics
//
// A function package registers start hooks, readiness checks and shutdown
// hooks from its init function with OnStart, OnReady and OnShutdown
// (ExampleOnStart), and its own series with RegisterMetrics
// (ExampleRegisterMetrics); New and Serve take the same as Options:
// WithStart, WithReadiness, WithShutdown (ExampleWithReadiness) and
// WithMetrics (ExampleWithMetrics).
//
// # Related packages
//
// Package watchdogtest serves a handler behind the real watchdog in tests;
// jwtauth adds OpenFaaS IAM function authentication (jwt_auth),
// otelwatchdog OpenTelemetry tracing, and prommetrics a
// prometheus/client_golang registry on :8081/metrics; package handler
// (go-http) has the classic golang-http types.
package watchdog
