package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// BenchLabel marks every container the benchmark starts, so leftovers of a
// killed run can be found: podman ps -a --filter label=io.inproc-go.bench
const BenchLabel = "io.inproc-go.bench"

// command runs name with args and returns its trimmed stdout; the error
// carries stderr.
func command(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// podman runs a podman sub-command with runc, the runtime that works here.
func podman(ctx context.Context, args ...string) (string, error) {
	return command(ctx, "podman", append([]string{"--runtime", "runc"}, args...)...)
}

// containers remembers the names of started containers so that every one is
// removed, on success, failure and interrupt alike.
type containers struct {
	mu    sync.Mutex
	names map[string]bool
}

func (c *containers) add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names == nil {
		c.names = map[string]bool{}
	}
	c.names[name] = true
}

// remove deletes one container by name. It runs on its own context so that
// it still works after the run's context was cancelled by a signal.
func (c *containers) remove(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := podman(ctx, "rm", "-f", "-t", "0", name)
	c.mu.Lock()
	delete(c.names, name)
	c.mu.Unlock()
	return err
}

// removeAll deletes every container still known, reporting failures.
func (c *containers) removeAll() {
	c.mu.Lock()
	var names []string
	for n := range c.names {
		names = append(names, n)
	}
	c.mu.Unlock()
	for _, n := range names {
		if err := c.remove(n); err != nil {
			fmt.Fprintf(os.Stderr, "bench: removing container %s: %v\n", n, err)
		}
	}
}
