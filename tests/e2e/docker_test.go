package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inproc-go/templates/tests/internal/container"
	"github.com/inproc-go/templates/tests/internal/freeport"
)

// The Docker Engine tests build and run the templates the way faas-cli
// does with Docker: "DOCKER_BUILDKIT=1 docker build" and "docker buildx
// build" of the unchanged Dockerfile, "docker run" as faas-cli local-run
// runs it. scripts/test.sh starts a dockerd of its own
// (scripts/ci/docker-engine.sh) and passes DOCKER_HOST and DOCKER_BRIDGE_IP.

// dockerCLI is Debian's docker client (docker.io), which builds with the
// daemon's BuildKit under DOCKER_BUILDKIT=1; a newer client needs the buildx
// plugin even for that, and gets it in the buildx test.
const dockerCLI = "/usr/bin/docker"

// requireDocker skips t unless a Docker Engine was started for the tests;
// under CI, where scripts/test.sh always starts one, it fails instead.
func requireDocker(t *testing.T) {
	t.Helper()
	requireE2E(t)
	if os.Getenv("DOCKER_HOST") == "" || os.Getenv("DOCKER_BRIDGE_IP") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("DOCKER_HOST and DOCKER_BRIDGE_IP are not set: scripts/test.sh starts a Docker Engine with scripts/ci/docker-engine.sh")
		}
		t.Skip("needs a Docker Engine: eval \"$(scripts/ci/docker-engine.sh start DIR)\" and export DOCKER_HOST DOCKER_BRIDGE_IP")
	}
	if err := dockerSetup(); err != nil {
		t.Fatal(err)
	}
}

// docker runs the Docker client and returns its combined output.
func docker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(dockerCLI, args...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := docker(t, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// dockerProxy is the module proxy Docker's build containers reach: the
// SDK and this machine's module cache, served on the bridge address, since
// those containers have no other route out.
var dockerProxy struct {
	url  string
	stop func()
}

var dockerSetup = sync.OnceValue(func() error {
	// The local builder image, from podman's store into dockerd's.
	if out, err := exec.Command("sh", "-c", "podman --runtime runc save --format docker-archive "+container.BuilderImage+" | "+dockerCLI+" load").CombinedOutput(); err != nil {
		return fmt.Errorf("loading %s into dockerd: %v\n%s", container.BuilderImage, err, out)
	}
	root, err := container.RepoRoot()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "sh", filepath.Join(root, "scripts", "sdk.sh"), "serve", "-modcache",
		"-addr", os.Getenv("DOCKER_BRIDGE_IP")+":0")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cancel()
		return fmt.Errorf("sdk.sh serve on the bridge printed no URL: %v", err)
	}
	dockerProxy.url = strings.TrimSpace(line)
	dockerProxy.stop = func() { cancel(); cmd.Wait() }
	return nil
})

// stopDockerProxy is for TestMain, after the tests.
func stopDockerProxy() {
	if dockerProxy.stop != nil {
		dockerProxy.stop()
	}
}

// dockerContext lays out lang's build context with handler over function/
// and downloads its modules into this machine's module cache, which the
// bridge proxy serves to the build.
func dockerContext(t *testing.T, lang, handler string) string {
	t.Helper()
	root, err := container.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx := filepath.Join(t.TempDir(), "build")
	if out, err := exec.Command("sh", filepath.Join(root, "scripts", "shrinkwrap.sh"), filepath.Join(root, "template", lang), handler, ctx).CombinedOutput(); err != nil {
		t.Fatalf("shrinkwrap.sh: %v\n%s", err, out)
	}
	download := exec.Command("go", "mod", "download")
	download.Dir = ctx
	if out, err := download.CombinedOutput(); err != nil {
		t.Fatalf("go mod download in the build context: %v\n%s", err, out)
	}
	return ctx
}

// dockerBuildArgs are faas-cli's defaults and the proxy on the bridge.
func dockerBuildArgs() []string {
	return []string{"--build-arg", "ADDITIONAL_PACKAGE=", "--build-arg", "GO_IMAGE=" + container.BuilderImage,
		"--build-arg", "GOPROXY=" + dockerProxy.url}
}

// noBuildWarnings fails t for each warning about build args in out.
func noBuildWarnings(t *testing.T, out string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(strings.ToLower(line), "warn") {
			t.Errorf("build warned: %s", line)
		}
	}
}

type dockerImage struct {
	Size   int64
	RootFS struct{ Layers []string }
	Config struct {
		User       string
		WorkingDir string
	}
}

func inspectDockerImage(t *testing.T, tag string) dockerImage {
	t.Helper()
	var img []dockerImage
	if err := json.Unmarshal([]byte(mustDocker(t, "image", "inspect", tag)), &img); err != nil || len(img) != 1 {
		t.Fatalf("docker image inspect %s: %v", tag, err)
	}
	return img[0]
}

// checkDockerImage: one layer, the non-root user, one static binary's size.
func checkDockerImage(t *testing.T, engine, lang, tag string) {
	t.Helper()
	img := inspectDockerImage(t, tag)
	t.Logf("%s/%s: %d layer(s), %.2f MiB, user %s", engine, lang, len(img.RootFS.Layers), float64(img.Size)/(1<<20), img.Config.User)
	if len(img.RootFS.Layers) != 1 {
		t.Errorf("%s: %d layers, want 1", tag, len(img.RootFS.Layers))
	}
	if img.Config.User != "12000:12000" {
		t.Errorf("%s: user %q, want 12000:12000", tag, img.Config.User)
	}
	if img.Size > 12<<20 {
		t.Errorf("%s: %d bytes, want under 12 MiB", tag, img.Size)
	}
}

// dockerRun starts tag detached with the function and metrics ports on
// 127.0.0.1, waits for /_/health and returns the container's name, the
// function's base URL and the metrics URL.
func dockerRun(t *testing.T, tag string, flags ...string) (name, url, metrics string) {
	t.Helper()
	ports, err := freeport.Get(2)
	if err != nil {
		t.Fatal(err)
	}
	name = fmt.Sprintf("inproc-e2e-%d", time.Now().UnixNano())
	args := append([]string{"run", "-d", "-i", "--name", name,
		"-p", fmt.Sprintf("127.0.0.1:%d:8080", ports[0]), "-p", fmt.Sprintf("127.0.0.1:%d:8081", ports[1])}, flags...)
	start := time.Now()
	mustDocker(t, append(args, tag)...)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := docker(t, "logs", name)
			t.Logf("logs of %s:\n%s", name, out)
		}
		docker(t, "rm", "-f", name)
	})
	url = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	waitFor200(t, url+"/_/health", 60*time.Second, nil)
	t.Logf("%s: docker run to /_/health 200: %s", tag, time.Since(start).Round(time.Millisecond))
	return name, url, fmt.Sprintf("http://127.0.0.1:%d", ports[1])
}

// TestDockerBuild builds each template with DOCKER_BUILDKIT=1 docker build,
// as faas-cli build does, and checks the image and the function contract
// with docker run.
func TestDockerBuild(t *testing.T) {
	requireDocker(t)
	for _, lang := range templates {
		t.Run(lang, func(t *testing.T) {
			ctx := dockerContext(t, lang, filepath.Join("testdata", "probe", lang))
			tag := "localhost/inproc-e2e/docker-" + lang + ":latest"
			out := mustDocker(t, append(append([]string{"build", "-t", tag}, dockerBuildArgs()...), ctx)...)
			noBuildWarnings(t, out)
			checkDockerImage(t, "docker build (BuildKit)", lang, tag)

			name, url, metrics := dockerRun(t, tag)
			expect(t, do(t, http.MethodPost, url+"/", "hello", nil), http.StatusOK, "hello")
			expect(t, do(t, http.MethodGet, url+"/static", "", nil), http.StatusOK, "hello from static/\n")
			expect(t, do(t, http.MethodGet, url+"/_/ready", "", nil), http.StatusOK, "")
			if m := do(t, http.MethodGet, metrics+"/metrics", "", nil); !strings.Contains(m.body, `http_requests_total{code="200",method="post"} 1`) {
				t.Errorf("metrics do not count the call:\n%s", m.body)
			}
			if out, err := docker(t, "exec", name, "cat", "/tmp/.lock"); err != nil {
				t.Errorf("exec probe cat /tmp/.lock: %v %s", err, out)
			}
			mustDocker(t, "kill", "--signal", "TERM", name)
			if code := mustDocker(t, "wait", name); code != "0" {
				t.Errorf("exit code after SIGTERM: %s, want 0", code)
			}

			_, url, _ = dockerRun(t, tag, "--read-only", "--tmpfs", "/tmp")
			expect(t, do(t, http.MethodPost, url+"/", "read-only", nil), http.StatusOK, "read-only")
		})
	}
}

// TestDockerLegacyBuilder builds each template with Docker's legacy builder
// (DOCKER_BUILDKIT=0, as faas-cli build runs docker build when it passes no
// build secret): the Dockerfile needs BuildKit, so the build must stop at
// its first stage, before the Go builder, with the step naming
// DOCKER_BUILDKIT=1 and Docker's error naming BuildKit.
func TestDockerLegacyBuilder(t *testing.T) {
	requireDocker(t)
	for _, lang := range templates {
		t.Run(lang, func(t *testing.T) {
			ctx := dockerContext(t, lang, filepath.Join("testdata", "probe", lang))
			tag := "localhost/inproc-e2e/legacy-" + lang + ":latest"
			cmd := exec.Command(dockerCLI, append(append([]string{"build", "-t", tag}, dockerBuildArgs()...), ctx)...)
			cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
			b, err := cmd.CombinedOutput()
			out := string(b)
			t.Logf("DOCKER_BUILDKIT=0 docker build:\n%s", out)
			if err == nil {
				t.Fatal("the legacy builder built the image; want it to stop naming BuildKit")
			}
			for _, want := range []string{"requires BuildKit", "set DOCKER_BUILDKIT=1"} {
				if !strings.Contains(out, want) {
					t.Errorf("output does not say %q", want)
				}
			}
			if strings.Contains(out, "FROM --platform") {
				t.Error("the legacy builder reached the build stage; want it stopped at the first stage")
			}
		})
	}
}
