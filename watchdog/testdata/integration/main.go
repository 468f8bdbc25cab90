// Command integration is the function that the watchdog's integration test
// and scripts/soak.sh run as a real process: watchdog.Main around a handler
// that echoes the request body. It first logs "handler started" with the call
// id, so a test can tell which calls the process accepted; then it sleeps for
// ?sleep=DURATION, cut short when the call's context ends, or for
// ?hold=DURATION, ignoring its context as a careless handler would.
//
// Besides the watchdog's own environment it reads the variables of
// testdata/fnenv, so that a test never touches the fixed ports or /tmp/.lock.
package main

import (
	"io"
	"net/http"
	"time"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/testdata/fnenv"
)

func main() { fnenv.Main("integration", http.HandlerFunc(echo)) }

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
