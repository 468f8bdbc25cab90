package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/inproc-go/templates/tests/internal/container"
	"github.com/inproc-go/templates/tests/internal/freeport"
)

// The buildx tests need the buildx plugin and buildkitd, built from the
// module proxy by scripts/test.sh, which passes their paths.
func requireBuildx(t *testing.T) (buildx, buildkitd string) {
	t.Helper()
	requireDocker(t)
	buildx, buildkitd = os.Getenv("INPROC_BUILDX"), os.Getenv("INPROC_BUILDKITD")
	if buildx == "" || buildkitd == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("INPROC_BUILDX and INPROC_BUILDKITD are not set: scripts/test.sh builds them from the module proxy")
		}
		t.Skip("needs INPROC_BUILDX and INPROC_BUILDKITD (paths of docker-buildx and buildkitd; scripts/test.sh builds them)")
	}
	return buildx, buildkitd
}

// dockerConfig is a DOCKER_CONFIG folder of the test's own, with the buildx
// plugin installed as docker's CLI plugins are.
func dockerConfig(t *testing.T, buildx string) []string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "cli-plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(buildx, filepath.Join(dir, "cli-plugins", "docker-buildx")); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), "DOCKER_CONFIG="+dir)
}

func dockerWith(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(dockerCLI, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestBuildxLoad builds each template with docker buildx build on the
// default builder (the daemon's BuildKit), as docker build does once buildx
// is installed, and checks the loaded image.
func TestBuildxLoad(t *testing.T) {
	buildx, _ := requireBuildx(t)
	env := dockerConfig(t, buildx)
	t.Logf("%s", strings.TrimSpace(dockerWith(t, env, "buildx", "version")))
	for _, lang := range templates {
		t.Run(lang, func(t *testing.T) {
			ctx := dockerContext(t, lang, filepath.Join("testdata", "probe", lang))
			tag := "localhost/inproc-e2e/buildx-" + lang + ":latest"
			out := dockerWith(t, env, append(append([]string{"buildx", "build", "--load", "-t", tag}, dockerBuildArgs()...), ctx)...)
			noBuildWarnings(t, out)
			checkDockerImage(t, "docker buildx build", lang, tag)
			_, url, _ := dockerRun(t, tag)
			expect(t, do(t, http.MethodPost, url+"/", "buildx", nil), http.StatusOK, "buildx")
		})
	}
}

// TestMultiArch publishes each template for linux/amd64 and linux/arm64 as
// faas-cli publish does (docker buildx build --platform ... --output
// type=registry), to a registry on 127.0.0.1, through a buildkitd builder
// on this machine with no emulation: the build stage runs on the build
// platform and cross-compiles. It reads the manifest list back and checks
// each platform's single layer holds a static binary of its architecture.
func TestMultiArch(t *testing.T) {
	buildx, buildkitd := requireBuildx(t)
	env := dockerConfig(t, buildx)
	registry := startRegistry(t)

	// buildkitd pulls the builder image from the registry, as a builder
	// pulls golang:1.26 from a public one.
	builderRef := registry + "/inproc-go/golang:local"
	mustDocker(t, "tag", container.BuilderImage, builderRef)
	mustDocker(t, "push", builderRef)

	sock := startBuildkitd(t, buildkitd, registry)
	builder := fmt.Sprintf("inproc-e2e-%d", time.Now().UnixNano())
	dockerWith(t, env, "buildx", "create", "--name", builder, "--driver", "remote", "unix://"+sock)
	t.Cleanup(func() { exec.Command(dockerCLI, "buildx", "rm", builder).Run() })

	arches := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, lang := range templates {
		t.Run(lang, func(t *testing.T) {
			ctx := dockerContext(t, lang, filepath.Join("testdata", "probe", lang))
			repo := "inproc-e2e/multiarch-" + lang
			start := time.Now()
			// buildkitd's steps share this machine's network, so they reach the SDK's
			// proxy on 127.0.0.1 and the module proxy behind it.
			out := dockerWith(t, env, "buildx", "build", "--builder", builder,
				"--platform", "linux/amd64,linux/arm64", "--output", "type=registry",
				"--build-arg", "ADDITIONAL_PACKAGE=", "--build-arg", "GO_IMAGE="+builderRef,
				"--build-arg", "GOPROXY="+os.Getenv("GOPROXY"), "-t", registry+"/"+repo+":latest", ctx)
			noBuildWarnings(t, out)
			t.Logf("buildx multi-arch build of %s: %s", lang, time.Since(start).Round(time.Second))

			index := registryJSON(t, registry, repo, "manifests/latest",
				"application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json")
			var list struct {
				Manifests []struct {
					Digest   string
					Platform struct{ OS, Architecture string }
				}
			}
			if err := json.Unmarshal(index, &list); err != nil {
				t.Fatalf("manifest list: %v\n%s", err, index)
			}
			found := map[string]bool{}
			for _, m := range list.Manifests {
				if m.Platform.OS != "linux" || arches[m.Platform.Architecture] == 0 {
					continue // attestation manifests have platform unknown/unknown
				}
				found[m.Platform.Architecture] = true
				binary := imageFile(t, registry, repo, m.Digest, "home/app/handler")
				f, err := elf.NewFile(bytes.NewReader(binary))
				if err != nil {
					t.Fatalf("%s: home/app/handler is not ELF: %v", m.Platform.Architecture, err)
				}
				interp, dynamic := false, false
				for _, p := range f.Progs {
					interp = interp || p.Type == elf.PT_INTERP
					dynamic = dynamic || p.Type == elf.PT_DYNAMIC
				}
				t.Logf("%s linux/%s: home/app/handler: ELF %s %s, %.2f MiB, interpreter %v, dynamic section %v",
					lang, m.Platform.Architecture, f.Class, f.Machine, float64(len(binary))/(1<<20), interp, dynamic)
				if f.Machine != arches[m.Platform.Architecture] || interp || dynamic {
					t.Errorf("linux/%s: binary is %s (interpreter %v, dynamic %v), want a static %s",
						m.Platform.Architecture, f.Machine, interp, dynamic, arches[m.Platform.Architecture])
				}
			}
			if !found["amd64"] || !found["arm64"] {
				t.Errorf("manifest list has %v, want linux/amd64 and linux/arm64:\n%s", found, index)
			}
		})
	}
}

// startRegistry runs Debian's docker-registry on a free port of 127.0.0.1
// and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	ports, err := freeport.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yml")
	writeFile(t, config, fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr))
	startProcess(t, "docker-registry", "serve", config)
	waitFor200(t, "http://"+addr+"/v2/", 30*time.Second, nil)
	return addr
}

// startBuildkitd runs buildkitd on this machine with its own state folder
// and socket, steps on the host network, and plain HTTP to registry; it
// returns the socket path.
func startBuildkitd(t *testing.T, buildkitd, registry string) string {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "buildkitd.toml")
	writeFile(t, config, fmt.Sprintf("[registry.%q]\n  http = true\n  insecure = true\n", registry))
	sock := filepath.Join(dir, "buildkitd.sock")
	startProcess(t, buildkitd, "--root", filepath.Join(dir, "state"), "--addr", "unix://"+sock, "--config", config,
		"--oci-worker=true", "--containerd-worker=false", "--oci-worker-net=host")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("buildkitd made no socket at %s within 30s", sock)
		}
	}
}

// startProcess runs name until the test ends, then stops it with SIGTERM;
// its output is logged if the test failed.
func startProcess(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, out.String())
		}
	})
}

// registryJSON GETs /v2/<repo>/<path> with the given Accept header.
func registryJSON(t *testing.T, registry, repo, path, accept string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+registry+"/v2/"+repo+"/"+path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", req.URL, res.StatusCode, err, body)
	}
	return body
}

// imageFile returns the file at name in the single layer of the image
// whose manifest has digest.
func imageFile(t *testing.T, registry, repo, digest, name string) []byte {
	t.Helper()
	var manifest struct{ Layers []struct{ Digest string } }
	raw := registryJSON(t, registry, repo, "manifests/"+digest,
		"application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Layers) != 1 {
		t.Fatalf("image %s has %d layers, want 1", digest, len(manifest.Layers))
	}
	blob := registryJSON(t, registry, repo, "blobs/"+manifest.Layers[0].Digest, "")
	gz, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in the layer: %v", name, err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
	}
}
