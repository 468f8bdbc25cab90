package watchdog_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// The hooks in testdata/integration/hooks.go are registered from init with
// OnStart and OnShutdown, and main.go passes none: these runs show that Main
// finds and runs them.

// runToExit runs the integration binary, which is expected to stop on its
// own, and returns its exit code and output. The lock file's folder does not
// exist beforehand: if it exists afterwards, a lock file was written.
func runToExit(t *testing.T, bin string, env ...string) (code int, output, lockDir string) {
	t.Helper()
	lockDir = filepath.Join(t.TempDir(), "lockdir")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd, _, _, started := fnCommand(t, bin, filepath.Join(lockDir, ".lock"), env...)
	var out bytes.Buffer // Wait has copied all of it
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started()
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	defer stop()
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("still running after 30s: %s", out.String())
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), lockDir
}

func TestStartHookStopsTheProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the integration binary")
	}
	bin := buildIntegration(t)
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"error", []string{"integration_start=fail"},
			"watchdog: start hook 1 of 1: integration: opening the pool: connection refused\n"},
		{"past start_timeout", []string{"integration_start=hang", "start_timeout=300ms"},
			"watchdog: start hook 1 of 1 did not finish within start_timeout (300ms)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, lockDir := runToExit(t, bin, tt.env...)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.HasSuffix(out, tt.want) {
				t.Errorf("output ends %q, want it to end with %q", out, tt.want)
			}
			if _, err := os.Stat(lockDir); err == nil {
				t.Errorf("%s exists: the lock file was written", lockDir)
			}
			if strings.Contains(out, `msg=serving`) {
				t.Errorf("logged serving:\n%s", out)
			}
		})
	}
}

// Registered start and shutdown hooks run: start before healthy, shutdown
// in order after the drain, before the drain's last line.
func TestRegisteredHooksRunInOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the integration binary")
	}
	p := startFn(t, buildIntegration(t), "integration_hooks=1", "healthcheck_interval=1ms")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0\n%s", code, p.stderr.String())
	}
	records, _ := p.logRecords()
	msgs := testkit.Messages(records)
	order := []string{"start hook", "started", "serving",
		"shutdown: no new connections; draining", "shutdown hook 1", "shutdown hook 2", "shutdown: complete"}
	at := -1
	for _, want := range order {
		i := slices.Index(msgs, want)
		if i <= at {
			t.Fatalf("log lines out of order: want %q in this order, logged %q", order, msgs)
		}
		at = i
	}
}
