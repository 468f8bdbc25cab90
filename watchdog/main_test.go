package watchdog

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

func TestRunCat(t *testing.T) {
	dir := t.TempDir()
	a, b, lock := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, ".lock")
	os.WriteFile(a, []byte("first\n"), 0o644)
	os.WriteFile(b, []byte("second"), 0o644)
	os.WriteFile(lock, nil, 0o644)
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"one file", []string{"cat", a}, 0, "first\n", ""},
		{"by path", []string{"/bin/cat", a, b}, 0, "first\nsecond", ""},
		{"repeated", []string{"cat", a, b, a}, 0, "first\nsecondfirst\n", ""},
		{"empty lock file", []string{"cat", lock}, 0, "", ""},
		{"directory", []string{"cat", dir}, 1, "", "cat: read " + dir},
		{"missing", []string{"cat", missing}, 1, "", "cat: open " + missing + ": no such file or directory\n"},
		{"missing among others", []string{"cat", a, missing, b}, 1, "first\nsecond", "cat: open " + missing},
		{"no files", []string{"cat"}, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr, okHandler, nil)
			if code != tt.code || stdout.String() != tt.stdout || !strings.HasPrefix(stderr.String(), tt.stderr) {
				t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

// -run-healthcheck reads the fixed /tmp/.lock; only the side that needs no
// such file is tested, and only when there is none, so a real one is never
// created or removed.
func TestRunHealthcheck(t *testing.T) {
	if _, err := os.Stat(defaultLockFile); !errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s exists (or can't be checked: %v); not touching a real lock file", defaultLockFile, err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"/handler", "-run-healthcheck"}, &stdout, &stderr, okHandler, nil)
	if code != 1 || !strings.Contains(stderr.String(), "not healthy") {
		t.Errorf("-run-healthcheck without %s = %d %q, want 1 and not healthy", defaultLockFile, code, stderr.String())
	}
}

func TestRunBadArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"/handler", "-no-such-flag"}, &stdout, &stderr, okHandler, nil); code != 2 {
		t.Errorf("unknown flag = %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "-no-such-flag") {
		t.Errorf("stderr %q does not name the flag", stderr.String())
	}
}

func TestRunBadConfiguration(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := WithEnv([]string{"write_timeout=banana", "max_inflight=-1", "port=http"})
	code := run([]string{"/handler"}, &stdout, &stderr, okHandler, []Option{env})
	if code != 2 {
		t.Errorf("bad configuration = %d, want 2", code)
	}
	for _, want := range []string{
		"watchdog: bad configuration:\n",
		`write_timeout="banana": want seconds (e.g. 10) or a Go duration (e.g. 10s)`,
		`max_inflight="-1": `,
		`port="http": `,
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q", stdout.String())
	}
}

// run serves until SIGTERM and exits 0 after a clean drain. The signal is sent
// only once the server is healthy, which is after run's handler is installed.
func TestRunServesUntilSignal(t *testing.T) {
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })

	r := runUntilSIGTERM(t, okHandler)
	if r.code != 0 {
		t.Errorf("run after SIGTERM = %d, want 0; stderr %q", r.code, r.stderr)
	}
	if l := r.logs.withMsg(t, "shutdown: health answers 503; still serving while endpoints update"); len(l) != 1 || l[0]["cause"] != "signal terminated" {
		t.Errorf("shutdown cause: %v", l)
	}
}

// ranMain is what runUntilSIGTERM saw of run.
type ranMain struct {
	code   int
	stderr string
	logs   *logBuffer
}

// runUntilSIGTERM runs run around h as Main does, on local listeners with a
// JSON logger; once /_/health answers 200 it calls GET /, which must answer
// 200 "ok", then sends the process SIGTERM and waits for run to return.
func runUntilSIGTERM(t *testing.T, h http.Handler) ranMain {
	t.Helper()
	cfg := testConfig(t)
	logger, logs := newTestLogger()
	fn, metrics := testkit.Listen(t), testkit.Listen(t)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	ts := &testServer{t: t, url: "http://" + fn.Addr().String(), client: &http.Client{Transport: tr}}
	var stdout, stderr bytes.Buffer // read once run has returned
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"/handler"}, &stdout, &stderr, h,
			[]Option{WithConfig(cfg), WithLogger(logger), WithListeners(fn, metrics)})
	}()
	if err := testkit.WaitHealthy(ts.url, 5*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if c, body := ts.status("GET", "/"); c != 200 || body != "ok" {
		t.Errorf("call = %d %q", c, body)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if stdout.Len() != 0 {
			t.Errorf("stdout %q", stdout.String())
		}
		return ranMain{code: c, stderr: stderr.String(), logs: logs}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after SIGTERM")
		return ranMain{}
	}
}
