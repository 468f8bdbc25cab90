// Package settings names the environment variables the watchdog reads
// (watchdog.ConfigFromEnv), so watchdogtest can refuse any other name: a
// function's own variables, or OpenTelemetry's, are read from the process
// environment, which a test sets with t.Setenv.
package settings

import (
	"slices"
	"strings"
)

// names are the variables ConfigFromEnv reads; a test in package watchdog
// checks each one changes its result.
var names = []string{
	"OPENFAAS_NAME", "OPENFAAS_NAMESPACE",
	"access_log", "auto_gomemlimit", "exec_timeout", "healthcheck_interval",
	"jwt_auth", "jwt_auth_debug", "jwt_auth_local", "listen_address", "log_call_id", "log_callid",
	"log_flush_interval", "log_format", "max_body_bytes", "max_inflight",
	"metrics_port", "port", "read_timeout", "ready_path", "secret_mount_path",
	"start_timeout", "suppress_lock", "write_timeout",
}

// Names are the watchdog's settings, sorted.
func Names() []string { return slices.Clone(names) }

// Known reports whether name is one of the watchdog's settings.
func Known(name string) bool { return slices.Contains(names, name) }

// List is Names, comma-separated, for an error message.
func List() string { return strings.Join(names, ", ") }
