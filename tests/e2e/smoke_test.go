package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inproc-go/templates/tests/internal/container"
)

// smokeDockerfile mirrors the templates' contract (builder stage on
// BUILDPLATFORM from GO_IMAGE, cache mount, busybox sh RUN steps, one COPY
// into scratch, uid 12000) so the smoke test exercises the same chain.
const smokeDockerfile = `ARG GO_IMAGE=golang:1.26
FROM --platform=${BUILDPLATFORM} ${GO_IMAGE} AS build
ARG TARGETOS
ARG TARGETARCH
RUN set -e; test -x /bin/sh; mkdir -p /x; echo ok > /x/a; cp /x/a /x/b; \
    ln -s b /x/c; chmod 600 /x/b; cat /x/c; find /x -type f | sort
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/smoke . && \
    mkdir -p /out/tmp && chmod 1777 /out/tmp
FROM scratch
COPY --from=build /out/ /
USER 12000
EXPOSE 8080 8081
ENTRYPOINT ["/smoke"]
`

const smokeMain = `package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	fn := http.NewServeMux()
	fn.HandleFunc("/_/health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "OK") })
	fn.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Writing to /tmp proves the tmpfs mount under --read-only.
		err := os.WriteFile("/tmp/probe", []byte("x"), 0o600)
		fmt.Fprintf(w, "greeting=%s uid=%d tmp=%v", os.Getenv("GREETING"), os.Getuid(), err == nil)
	})
	metrics := http.NewServeMux()
	metrics.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "smoke_up 1") })

	servers := []*http.Server{{Addr: ":8080", Handler: fn}, {Addr: ":8081", Handler: metrics}}
	for _, s := range servers {
		go func() {
			if err := s.ListenAndServe(); err != http.ErrServerClosed {
				log.Fatal(err)
			}
		}()
	}
	log.Print("listening")

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
	log.Print("shutting down")
	for _, s := range servers {
		s.Shutdown(context.Background())
	}
	log.Print("bye")
}
`

// TestSmoke proves the harness end to end on this machine: builder image,
// buildah bud, podman run, HTTP probes on both ports, SIGTERM, exit code,
// and cleanup.
func TestSmoke(t *testing.T) {
	requireE2E(t)
	dir := t.TempDir()
	files := map[string]string{
		"Dockerfile": smokeDockerfile,
		"main.go":    smokeMain,
		"go.mod":     "module smoke\n\ngo 1.26\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const image = "localhost/inproc-e2e/smoke:latest"
	container.BuildDir(t, dir, image)

	img := container.InspectImage(t, image)
	t.Logf("image: %d bytes, %d layers, user %q", img.Size, img.Layers, img.User)
	if img.Layers != 1 || img.User != "12000" {
		t.Errorf("image has %d layers and user %q, want 1 layer and user 12000", img.Layers, img.User)
	}

	c := container.Run(t, image,
		container.Env("GREETING=hello"), container.ReadOnly(), container.Tmpfs("/tmp"))
	t.Logf("%s healthy after %s", c.Name, c.StartupTime)

	if code, body := container.Get(t, c.URL("/")); code != 200 || body != "greeting=hello uid=12000 tmp=true" {
		t.Errorf("GET / = %d %q", code, body)
	}
	if code, body := container.Get(t, c.MetricsURL("/metrics")); code != 200 || !strings.Contains(body, "smoke_up 1") {
		t.Errorf("GET /metrics = %d %q", code, body)
	}
	if mem := c.MemoryBytes(t); mem == 0 {
		t.Error("memory usage is 0")
	} else {
		t.Logf("memory: %d KiB", mem/1024)
	}

	if code := c.Stop(t, "TERM"); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	if logs := c.Logs(); !strings.Contains(logs, "shutting down") || !strings.Contains(logs, "bye") {
		t.Errorf("logs miss the graceful shutdown:\n%s", logs)
	}
	if c.Running(t) {
		t.Error("container still running after Stop")
	}
}
