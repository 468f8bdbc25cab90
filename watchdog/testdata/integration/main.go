// Command integration is the function that the watchdog's integration test
// and scripts/soak.sh run as a real process: watchdog.Main around a handler
// that echoes the request body. It first logs "handler started" with the call
// id, so a test can tell which calls the process accepted; then it sleeps for
// ?sleep=DURATION, cut short when the call's context ends, or for
// ?hold=DURATION, ignoring its context as a careless handler would.
//
// Besides the watchdog's own environment it reads two variables that exist
// only here, so that a test never touches the fixed metrics port or
// /tmp/.lock:
//
//	integration_metrics_port  port of the metrics listener (default 8081)
//	integration_lock_file     path of the lock file (default /tmp/.lock)
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/inproc-go/templates/watchdog"
)

func main() {
	cfg, err := watchdog.ConfigFromEnv(os.Environ())
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: bad configuration:\n%v\n", err)
		os.Exit(2)
	}
	if v := os.Getenv("integration_metrics_port"); v != "" {
		port, err := strconv.Atoi(v)
		if err != nil || port < 1 || port > 65535 {
			fmt.Fprintf(os.Stderr, "integration: integration_metrics_port=%q: want a TCP port\n", v)
			os.Exit(2)
		}
		cfg.MetricsPort = port
	}
	if v := os.Getenv("integration_lock_file"); v != "" {
		cfg.LockFile = v
	}
	watchdog.Main(http.HandlerFunc(echo), watchdog.WithConfig(cfg))
}

func echo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	watchdog.Logger(ctx).Info("handler started")
	if v := r.URL.Query().Get("hold"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			http.Error(w, "hold: "+err.Error(), http.StatusBadRequest)
			return
		}
		time.Sleep(d)
	}
	if v := r.URL.Query().Get("sleep"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			http.Error(w, "sleep: "+err.Error(), http.StatusBadRequest)
			return
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return // the caller left, or the call was cut off
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		status := http.StatusBadRequest
		if watchdog.IsBodyTooLarge(err) {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, "reading the body: "+err.Error(), status)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(body)
}
