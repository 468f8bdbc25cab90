// Package e2e builds function images and runs them in containers.
// The tests only run with E2E=1; see requireE2E.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/inproc-go/templates/tests/internal/container"
)

// TestMain prepares the tools and the local Go builder image once per run,
// and checks that the SDK's module proxy is on GOPROXY for the builds.
// With E2E=1 a setup failure fails the run instead of skipping tests, so a
// broken harness cannot pass CI silently.
func TestMain(m *testing.M) {
	if os.Getenv("E2E") == "1" {
		if err := container.Setup(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e setup failed:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	stopDockerProxy()
	os.Exit(code)
}

// requireE2E skips t unless E2E=1, because these tests need root, buildah,
// podman and minutes of build time.
func requireE2E(t testing.TB) {
	t.Helper()
	if os.Getenv("E2E") != "1" {
		t.Skip("e2e test: set E2E=1 to build images and run containers (needs root; installs buildah/podman with apt when missing)")
	}
}
