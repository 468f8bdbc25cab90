package container

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inproc-go/templates/tests/internal/freeport"
	"github.com/inproc-go/templates/tests/internal/wait"
)

// Ports the function image listens on inside the container.
const (
	FunctionPort = 8080
	MetricsPort  = 8081
)

// Client talks to containers. It never uses a proxy from the environment,
// since tests only target loopback addresses.
var Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}

// probe is used while waiting for health: a hung accept must not eat the
// whole start timeout in one attempt.
var probe = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// ulimits are required for containers to start in this sandbox.
var ulimits = []string{"--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"}

// Option changes how Run starts a container.
type Option func(*config)

type config struct {
	env        []string
	args       []string
	command    []string
	listenPort int
	wait       bool
	timeout    time.Duration
}

// Env adds NAME=VALUE environment variables.
func Env(kv ...string) Option { return func(c *config) { c.env = append(c.env, kv...) } }

// ReadOnly mounts the image's root filesystem read-only.
func ReadOnly() Option { return Args("--read-only") }

// Tmpfs mounts an empty tmpfs at path, e.g. "/tmp" next to ReadOnly.
func Tmpfs(path string) Option { return Args("--tmpfs", path) }

// Args adds raw podman run flags, placed before the image name.
func Args(flags ...string) Option { return func(c *config) { c.args = append(c.args, flags...) } }

// Command overrides the image's CMD.
func Command(cmd ...string) Option { return func(c *config) { c.command = cmd } }

// ListenPort sets env port=p so the function listens on p instead of 8080,
// and maps Container.Port to it. Metrics stay on 8081.
func ListenPort(p int) Option {
	return func(c *config) {
		c.listenPort = p
		c.env = append(c.env, "port="+strconv.Itoa(p))
	}
}

// NoWait returns as soon as the container is started, without waiting for
// /_/health; for containers expected to fail at start.
func NoWait() Option { return func(c *config) { c.wait = false } }

// StartTimeout bounds the wait for /_/health (default 60s).
func StartTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// Container is a running (or exited) podman container started by Run.
type Container struct {
	Name        string
	Image       string
	Port        int           // host port mapped to the function port
	MetricsPort int           // host port mapped to 8081
	StartupTime time.Duration // from podman run to the first 200 on /_/health

	started time.Time
}

var seq atomic.Int64

// Run starts image in the background with the sandbox's required flags and
// ports published on 127.0.0.1, waits until /_/health answers 200 (unless
// NoWait), and removes the container when the test ends.
func Run(t testing.TB, image string, opts ...Option) *Container {
	t.Helper()
	cfg := config{wait: true, timeout: 60 * time.Second, listenPort: FunctionPort}
	for _, o := range opts {
		o(&cfg)
	}
	c := &Container{Name: uniqueName(t.Name()), Image: image}
	t.Cleanup(func() { c.remove(t) })

	// A free port can be taken by someone else before podman binds it;
	// retrying with new ports makes that race harmless.
	var err error
	for range 3 {
		c.Port, c.MetricsPort = freePorts(t)
		c.started = time.Now()
		_, err = podman(context.Background(), c.runArgs(cfg)...)
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		podman(context.Background(), "rm", "--force", "--ignore", c.Name)
	}
	if err != nil {
		t.Fatalf("start %s: %v", image, err)
	}
	if cfg.wait {
		c.WaitHealthy(t, cfg.timeout)
	}
	return c
}

func (c *Container) runArgs(cfg config) []string {
	args := []string{"run", "--detach", "--name", c.Name, "--label", E2ELabel + "=1",
		"--publish", fmt.Sprintf("127.0.0.1:%d:%d", c.Port, cfg.listenPort),
		"--publish", fmt.Sprintf("127.0.0.1:%d:%d", c.MetricsPort, MetricsPort)}
	args = append(args, ulimits...)
	for _, kv := range cfg.env {
		args = append(args, "--env", kv)
	}
	args = append(args, cfg.args...)
	args = append(args, c.Image)
	return append(args, cfg.command...)
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// uniqueName keeps the test name for readability in podman ps, plus the
// pid and a counter so parallel tests and concurrent runs never collide.
func uniqueName(testName string) string {
	name := strings.Trim(unsafeName.ReplaceAllString(testName, "-"), "-.")
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("e2e-%s-%d-%d", name, os.Getpid(), seq.Add(1))
}

// freePorts asks the kernel for two distinct free loopback ports.
func freePorts(t testing.TB) (int, int) {
	t.Helper()
	ports, err := freeport.Get(2)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0], ports[1]
}

// URL is the host URL of path on the function port.
func (c *Container) URL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", c.Port, path)
}

// MetricsURL is the host URL of path on the metrics port.
func (c *Container) MetricsURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", c.MetricsPort, path)
}

// Get fetches url (from URL or MetricsURL) and returns status and body.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := Client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// WaitHealthy polls /_/health until it answers 200, and stops the test
// if the container exits first or timeout passes (the cleanup then logs
// the container's output).
// It sets and returns StartupTime.
func (c *Container) WaitHealthy(t testing.TB, timeout time.Duration) time.Duration {
	t.Helper()
	lastStateCheck := time.Now()
	exited := func() error {
		// podman inspect costs tens of milliseconds of CPU; checking a few
		// times a second is enough to notice an early exit.
		if time.Since(lastStateCheck) <= 250*time.Millisecond {
			return nil
		}
		lastStateCheck = time.Now()
		if state := c.state(t); state != "running" && state != "created" {
			return fmt.Errorf("%s with code %d before becoming healthy", state, c.Wait(t, 10*time.Second))
		}
		return nil
	}
	if err := wait.Healthy(context.Background(), probe, c.URL("/_/health"), timeout, 20*time.Millisecond, exited); err != nil {
		t.Fatalf("container %s not healthy (logs follow): %v", c.Name, err)
	}
	c.StartupTime = time.Since(c.started)
	return c.StartupTime
}

func (c *Container) state(t testing.TB) string {
	t.Helper()
	out, err := podman(context.Background(), "container", "inspect", "--format", "{{.State.Status}}", c.Name)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Running reports whether the container's main process is still running.
func (c *Container) Running(t testing.TB) bool {
	t.Helper()
	return c.state(t) == "running"
}

// Signal sends sig (e.g. "TERM", "INT", "KILL") to the container's PID 1.
func (c *Container) Signal(t testing.TB, sig string) {
	t.Helper()
	if _, err := podman(context.Background(), "kill", "--signal", sig, c.Name); err != nil {
		t.Fatal(err)
	}
}

// Wait waits up to timeout for the container to exit and returns its exit
// code; the test stops if it is still running.
func (c *Container) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := podman(ctx, "wait", "--interval", "50ms", c.Name)
	if ctx.Err() != nil {
		t.Fatalf("container %s still running after %s (logs follow)", c.Name, timeout)
	}
	if err != nil {
		t.Fatal(err)
	}
	code, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("podman wait %s: unexpected output %q", c.Name, out)
	}
	return code
}

// Stop sends sig and returns the exit code once the container exits
// (within 30s).
func (c *Container) Stop(t testing.TB, sig string) int {
	t.Helper()
	c.Signal(t, sig)
	return c.Wait(t, 30*time.Second)
}

// Logs returns the container's stdout and stderr. Errors are returned as
// text because logs are only ever used for diagnostics and assertions.
func (c *Container) Logs() string {
	out, err := exec.Command("podman", append(runtimeArgs, "logs", c.Name)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(podman logs %s: %v) %s", c.Name, err, out)
	}
	return string(out)
}

// MemoryBytes is the container's current memory usage as podman stats
// reports it (the cgroup's usage, page cache included).
func (c *Container) MemoryBytes(t testing.TB) uint64 {
	t.Helper()
	// The default JSON has human-readable strings; ContainerStats has bytes.
	out, err := podman(context.Background(), "stats", "--no-stream", "--format", "{{json .ContainerStats}}", c.Name)
	if err != nil {
		t.Fatal(err)
	}
	var stats struct{ MemUsage uint64 }
	if err := json.Unmarshal([]byte(out), &stats); err != nil {
		t.Fatalf("podman stats %s: %v: %q", c.Name, err, out)
	}
	return stats.MemUsage
}

// remove force-removes the container, logging its output first when the
// test failed, since the container is the only witness of what went wrong.
func (c *Container) remove(t testing.TB) {
	if t.Failed() {
		t.Logf("logs of %s (%s):\n%s", c.Name, c.Image, c.Logs())
	}
	if _, err := podman(context.Background(), "rm", "--force", "--ignore", "--time", "0", c.Name); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}
