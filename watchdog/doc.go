// Package watchdog is the OpenFaaS watchdog as a library: it turns an
// http.Handler into a function server that honours the OpenFaaS function
// contract in the function's own process, with no second process and no
// second HTTP hop.
//
// A template's main.go is one call:
//
//	func main() {
//		watchdog.Main(http.HandlerFunc(function.Handle))
//	}
//
// What the server does, one file per concern:
//
//   - config.go: the of-watchdog environment variables (exec_timeout,
//     write_timeout, max_inflight, ...), parsed by the pure ConfigFromEnv;
//     bad values are errors that name the variable, the value and what is
//     accepted.
//   - server.go: New and Serve; the handler chain is built once, at start.
//     Each Server owns its listeners, routes and metrics, so several can run
//     in one process; nothing is registered on http.DefaultServeMux.
//   - health.go: /_/health, /_/ready and the lock file /tmp/.lock.
//   - limits.go: max_inflight (429) and max_body_bytes (413).
//   - exectimeout.go: exec_timeout and X-Timeout: the handler's deadline
//     context, the 504, the answer cut, and the one timer for all calls.
//   - guardedwriter.go: the handler's writer under a deadline.
//   - recover.go: panic recovery.
//   - abort.go: answers dropped after they began (the deadline, a panic):
//     logged and counted, then the connection closed without their end.
//   - panicstack.go: a recovered panic's stack as a log value; text logs
//     print it below the record, the watchdog's own frames left out.
//   - metrics.go: http_requests_total, http_request_duration_seconds and
//     http_requests_in_flight on :8081/metrics.
//   - call.go: what the watchdog keeps per call, in one allocation: its id
//     (X-Call-Id), arrival time and recorder; it is the handler's context.
//   - logging.go: the access log (access_log=false turns it off) and
//     Logger(ctx), whose lines carry the call id and, for a call with a
//     traceparent, its trace and span ids.
//   - accessline.go: the access-log line written directly, as slog would
//     write it, over the watchdog's own logger.
//   - trace.go: the W3C traceparent and tracestate headers, parsed for
//     TraceContext(ctx) and the log lines; malformed ones are ignored.
//   - writer.go: the ResponseWriter every call gets; streaming still works.
//   - observe.go: WithCallObserver, told of each call as it arrives and of
//     the status it ended with, for tracing; package otelwatchdog has the
//     OpenTelemetry one, linked only by a template built with -tags=otel.
//   - duration.go: X-Duration-Seconds on every answer, as of-watchdog sets it.
//   - shutdown.go: the drain after SIGTERM and the shutdown hooks.
//   - lifecycle.go: start hooks, readiness checks and shutdown hooks, as
//     Options and as registrations from a function package's init.
//   - secret.go: Secret, the function's OpenFaaS secrets.
//   - scope.go: what Logger and Secret answer in a Server's calls and hooks:
//     its logger and its secret_mount_path, not the process's.
//   - json.go: JSON, a typed function as a handler, and Error for its
//     status codes.
//   - memlimit.go: the Go memory limit from the cgroup's, set by Main.
//   - main.go: Main, signals, exit codes, and the exec probes.
//
// Package watchdogtest serves a handler behind the real watchdog in tests,
// and package handler (go-http) has the classic golang-http types.
package watchdog
