package watchdog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
)

// health answers the platform's probes. /_/health is liveness (faas-netes CE
// uses it for readiness too); /_/ready adds max_inflight and the function's
// own ready_path.
type health struct {
	accepting atomic.Bool // true from the lock file's writing until drain
	lockFile  string      // "" when suppress_lock is set
	limiter   *limiter
	readyPath string
	function  http.Handler                  // the call chain ready_path is dispatched to
	checks    []func(context.Context) error // WithReadiness, see lifecycle.go
	scope     *scope                        // the checks' Logger and Secret, see scope.go
}

// live is true while serving and the lock file, if any, is still there:
// something deleting /tmp/.lock should fail the exec probe and this one alike.
func (h *health) live() bool {
	if !h.accepting.Load() {
		return false
	}
	if h.lockFile == "" {
		return true
	}
	_, err := os.Stat(h.lockFile)
	return err == nil
}

func (h *health) serveHealth(w http.ResponseWriter, r *http.Request) {
	if !allowGet(w, r) {
		return
	}
	if !h.live() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("OK"))
}

func (h *health) serveReady(w http.ResponseWriter, r *http.Request) {
	if !allowGet(w, r) {
		return
	}
	switch {
	case !h.live():
		w.WriteHeader(http.StatusServiceUnavailable)
	case h.limiter.full():
		w.WriteHeader(http.StatusTooManyRequests)
	default:
		h.serveFunctionReady(w, r)
	}
}

// serveFunctionReady answers what the function's own readiness says: its
// checks' reason for a 503, then ready_path's answer.
func (h *health) serveFunctionReady(w http.ResponseWriter, r *http.Request) {
	if err := h.functionReady(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	switch {
	case h.readyPath != "":
		// Asked in-process, as a GET for ready_path without the query string;
		// the handler's status and body are the answer.
		probe := r.Clone(r.Context())
		probe.Method = http.MethodGet
		probe.URL.Path, probe.URL.RawPath, probe.URL.RawQuery = h.readyPath, "", ""
		probe.RequestURI = h.readyPath
		probe.Body, probe.ContentLength = http.NoBody, 0
		h.function.ServeHTTP(w, probe)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// allowGet answers 405 to anything but GET, HEAD included, as of-watchdog does.
func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet {
		return true
	}
	w.Header().Set("Allow", http.MethodGet)
	w.WriteHeader(http.StatusMethodNotAllowed)
	return false
}

// writeLockFile creates the lock file faas-netes' exec probe reads, readable
// by any user because the probe may run as another uid.
func writeLockFile(path string) error {
	err := os.MkdirAll(filepath.Dir(path), 0o755)
	if err == nil || errors.Is(err, fs.ErrExist) {
		err = os.WriteFile(path, nil, 0o644)
	}
	if err != nil {
		return fmt.Errorf("lock file: %w (is /tmp writable by uid %d? mount a tmpfs or emptyDir there)", err, os.Getuid())
	}
	return nil
}

func removeLockFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("lock file: %w", err)
	}
	return nil
}

// checkLockFile is the exec probe: nil when the lock file exists.
func checkLockFile(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("not healthy: %w", err)
	}
	return nil
}
