// Package container builds function images with buildah and runs them with
// podman for the e2e tests and benchmarks. Every helper that can fail takes
// a testing.TB and stops the test on failure, so tests stay short.
//
// It relies on the repository's scripts (install-tools.sh, builder-image.sh,
// build-function.sh) and on podman flags that this sandbox needs.
package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// E2ELabel marks every container this package starts, so leftovers of a
// killed test run can be found: podman ps -a --filter label=io.inproc-go.e2e
const E2ELabel = "io.inproc-go.e2e"

// runtimeArgs come before every podman sub-command: podman prefers crun,
// and containers only start in this sandbox with runc.
var runtimeArgs = []string{"--runtime", "runc"}

// podman runs a podman sub-command and returns its trimmed stdout.
// The error carries stderr, which is where podman explains itself.
func podman(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "podman", append(runtimeArgs, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("podman %s: %w: %s",
			strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

var repoRoot = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "ci", "build-function.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root not found: no scripts/ci/build-function.sh above the working directory")
		}
		dir = parent
	}
})

// RepoRoot returns the repository root, found by walking up from the
// working directory (go test runs in the package directory).
func RepoRoot() (string, error) { return repoRoot() }

// BuilderImage is the local Go builder image that Setup makes from this
// machine's toolchain (scripts/ci/builder-image.sh), passed to every build as
// GO_IMAGE. Its name is its own, never the official image's.
const BuilderImage = "localhost/inproc-go/golang:local"

// Setup installs the missing tools and builds the local Go builder image.
// Meant for TestMain: it prints script output to stderr and returns an error
// instead of skipping, because a broken harness must fail the run.
//
// The templates require the SDK module by version, which no public proxy
// serves yet: builds need the repository's own proxy, so Setup fails unless
// the tests run under "scripts/sdk.sh run" (scripts/test.sh does that).
func Setup() error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	proxy := os.Getenv("INPROC_SDK_PROXY")
	if proxy == "" || !strings.HasPrefix(os.Getenv("GOPROXY"), proxy) {
		return errors.New("the SDK module proxy is not running: run the tests as " +
			"scripts/sdk.sh run -- go test ... (scripts/test.sh does)")
	}
	for _, script := range [][]string{{"install-tools.sh"}, {"builder-image.sh", BuilderImage}} {
		cmd := exec.Command("sh", append([]string{filepath.Join(root, "scripts", "ci", script[0])}, script[1:]...)...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("scripts/ci/%s: %w", script[0], err)
		}
	}
	for _, tool := range []string{"buildah", "podman", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s missing after install-tools.sh: %w", tool, err)
		}
	}
	return nil
}
