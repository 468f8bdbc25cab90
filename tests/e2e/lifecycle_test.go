package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/inproc-go/templates/tests/internal/container"
	"github.com/inproc-go/templates/tests/internal/fnfolder"
	"github.com/inproc-go/templates/tests/internal/freeport"
)

// lifecycleHandler is a function folder's handler.go that uses what a
// function can do from its own folder: a start hook that needs a secret,
// its own readiness, a cleanup hook, and the memory limit set from the
// container's.
const lifecycleHandler = `package function

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync/atomic"

	"github.com/inproc-go/templates/watchdog"
)

var started, paused atomic.Bool

func init() {
	watchdog.OnStart(func(ctx context.Context) error {
		if _, err := watchdog.Secret(ctx, "api-key"); err != nil {
			return err
		}
		started.Store(true)
		return nil
	})
	watchdog.OnReady(func(ctx context.Context) error {
		if paused.Load() {
			return errors.New("paused by /pause")
		}
		return nil
	})
	watchdog.OnShutdown(func(ctx context.Context) error {
		slog.Info("cleanup hook ran")
		return nil
	})
}

func Handle(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/memlimit":
		fmt.Fprint(w, debug.SetMemoryLimit(-1))
	case "/pause":
		paused.Store(true)
	case "/resume":
		paused.Store(false)
	default:
		key, err := watchdog.Secret(r.Context(), "api-key")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "started=%v api-key=%s", started.Load(), key)
	}
}
`

// lifecycleStack is a stack faas-cli new made, with the lifecycle handler
// in hello/ and the secret in .secrets/, as faas-cli local-run mounts it.
func lifecycleStack(t *testing.T) (stack, hello string) {
	t.Helper()
	root, err := container.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	stack = fnfolder.New(t, root, "golang-middleware-inproc", "hello")
	hello = filepath.Join(stack, "hello")
	fnfolder.Edit{Files: map[string]string{"handler.go": lifecycleHandler}, Remove: []string{"handler_test.go"}}.Apply(t, hello)
	fnfolder.Write(t, filepath.Join(stack, ".secrets", "api-key"), "s3cret\n")
	// The function runs as uid 12000.
	if err := os.Chmod(filepath.Join(stack, ".secrets"), 0o755); err != nil {
		t.Fatal(err)
	}
	return stack, hello
}

const memoryLimit = 64 << 20

// checkLifecycle checks a running lifecycle function: the start hook ran
// with the secret, readiness follows the function's own check while calls
// succeed, and the Go memory limit is 90% of the container's.
func checkLifecycle(t *testing.T, url string) {
	t.Helper()
	expect(t, do(t, http.MethodGet, url+"/", "", nil), http.StatusOK, "started=true api-key=s3cret")
	limit, err := strconv.ParseInt(do(t, http.MethodGet, url+"/memlimit", "", nil).body, 10, 64)
	if err != nil || limit != memoryLimit*9/10 {
		t.Errorf("Go memory limit under --memory 64m: %d (%v), want 90%% of 64 MiB = %d", limit, err, memoryLimit*9/10)
	}
	expect(t, do(t, http.MethodGet, url+"/_/ready", "", nil), http.StatusOK, "")
	do(t, http.MethodGet, url+"/pause", "", nil)
	if res := do(t, http.MethodGet, url+"/_/ready", "", nil); res.status != http.StatusServiceUnavailable || !strings.Contains(res.body, "paused by /pause") {
		t.Errorf("/_/ready while the function is not ready: %d %q, want 503 with its reason", res.status, res.body)
	}
	expect(t, do(t, http.MethodGet, url+"/", "", nil), http.StatusOK, "started=true api-key=s3cret")
	do(t, http.MethodGet, url+"/resume", "", nil)
	expect(t, do(t, http.MethodGet, url+"/_/ready", "", nil), http.StatusOK, "")
}

// TestLifecycleFolder: a function folder with start, readiness and cleanup
// hooks and a secret builds with the unchanged template and behaves in a
// podman container with --memory and a mounted secrets folder; without the
// secret its start hook fails and the function exits 1 saying why.
func TestLifecycleFolder(t *testing.T) {
	requireE2E(t)
	stack, hello := lifecycleStack(t)
	image := "localhost/inproc-e2e/lifecycle:latest"
	container.BuildFunction(t, container.Function{Lang: "golang-middleware-inproc", Handler: hello, Tag: image})

	secrets := container.Args("--memory", "64m", "-v", filepath.Join(stack, ".secrets")+":/var/openfaas/secrets:ro")
	c := container.Run(t, image, secrets)
	checkLifecycle(t, c.URL(""))
	if code := c.Stop(t, "INT"); code != 0 {
		t.Errorf("exit code after SIGINT: %d, want 0", code)
	}
	if logs := c.Logs(); !strings.Contains(logs, "cleanup hook ran") || !strings.Contains(logs, "memory limit:") {
		t.Errorf("logs lack the cleanup hook or the memory limit line:\n%s", logs)
	}

	failed := container.Run(t, image, container.NoWait())
	if code := failed.Wait(t, 30*time.Second); code != 1 {
		t.Errorf("exit code without the secret: %d, want 1", code)
	}
	if logs := failed.Logs(); !strings.Contains(logs, "api-key") || !strings.Contains(logs, "start hook") {
		t.Errorf("logs of the failed start do not name the hook and the secret:\n%s", logs)
	}
}

// TestLocalRunDocker runs the lifecycle function as faas-cli local-run
// does: docker run --rm -i in the foreground, the stack's environment as
// --env, .secrets mounted at /var/openfaas/secrets; Ctrl-C (SIGINT to the
// docker client, which passes it on) drains it and everything exits 0.
func TestLocalRunDocker(t *testing.T) {
	requireDocker(t)
	stack, hello := lifecycleStack(t)
	ctx := dockerContext(t, "golang-middleware-inproc", hello)
	tag := "localhost/inproc-e2e/local-run:latest"
	mustDocker(t, append(append([]string{"build", "-t", tag}, dockerBuildArgs()...), ctx)...)

	ports, err := freeport.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("inproc-e2e-local-run-%d", time.Now().UnixNano())
	run := exec.CommandContext(context.Background(), dockerCLI, "run", "--name", name, "--rm", "-i",
		"-p", fmt.Sprintf("127.0.0.1:%d:8080", ports[0]), "--memory", "64m",
		"-v", filepath.Join(stack, ".secrets")+":/var/openfaas/secrets",
		"--env", "exec_timeout=5s", "--env", "write_timeout=6s", tag)
	var out bytes.Buffer
	run.Stdout, run.Stderr = &out, &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	var runErr error
	exited := make(chan struct{})
	go func() { runErr = run.Wait(); close(exited) }()
	t.Cleanup(func() { docker(t, "rm", "-f", name) })

	url := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	waitFor200(t, url+"/_/health", 60*time.Second, func() (bool, string) {
		select {
		case <-exited:
			return true, out.String()
		default:
			return false, ""
		}
	})
	checkLifecycle(t, url)
	if !strings.Contains(do(t, http.MethodGet, url+"/", "", nil).body, "api-key=s3cret") {
		t.Fatal("the secret from .secrets did not reach the function")
	}

	run.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
		if runErr != nil {
			t.Errorf("docker run after Ctrl-C: %v, want exit 0\n%s", runErr, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("docker run did not exit within 30s of Ctrl-C:\n%s", out.String())
	}
	for _, want := range []string{"shutdown: complete", "cleanup hook ran", `exec_timeout=5s`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("local-run output lacks %q:\n%s", want, out.String())
		}
	}
}
