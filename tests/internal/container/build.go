package container

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Function describes a function image built from a template, like
// "faas-cli build --shrinkwrap" followed by "docker build".
type Function struct {
	Lang      string   // template name, a folder under template/
	Handler   string   // handler folder, overlaid onto the template's function/
	Tag       string   // image tag, e.g. "localhost/e2e/echo:latest"
	BuildArgs []string // NAME=VALUE
	Secrets   []string // buildah --secret specs: id=NAME,src=PATH
}

// BuildFunction builds f and stops the test when the build fails.
// It returns the build output.
func BuildFunction(t testing.TB, f Function) string {
	t.Helper()
	out, err := TryBuildFunction(t, f)
	if err != nil {
		t.Fatalf("build %s: %v\n%s", f.Tag, err, out)
	}
	return out
}

// TryBuildFunction builds f and returns the build output and error, for
// tests that expect a build to fail. The build dir lives in t.TempDir().
func TryBuildFunction(t testing.TB, f Function) (string, error) {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	args := []string{filepath.Join(root, "scripts", "ci", "build-function.sh"),
		"-r", root, "-l", f.Lang, "-d", f.Handler, "-t", f.Tag,
		"-o", filepath.Join(t.TempDir(), "build")}
	for _, a := range withDefaults(f.BuildArgs) {
		args = append(args, "-b", a)
	}
	for _, s := range f.Secrets {
		args = append(args, "--secret", s)
	}
	return run(t, "sh", args...)
}

// BuildDir builds the Dockerfile in dir as tag, for images that do not come
// from a template (such as the smoke test's). It returns the build output.
func BuildDir(t testing.TB, dir, tag string, buildArgs ...string) string {
	t.Helper()
	args := []string{"bud", "--isolation", "chroot", "--layers", "--pull=never", "-t", tag}
	for _, a := range withDefaults(buildArgs) {
		args = append(args, "--build-arg", a)
	}
	out, err := run(t, "buildah", append(args, dir)...)
	if err != nil {
		t.Fatalf("build %s: %v\n%s", tag, err, out)
	}
	return out
}

// withDefaults adds the build args a test did not set: the local builder
// image as GO_IMAGE, and the caller's GOPROXY (which Setup made sure puts
// the SDK's own proxy first), as a user behind a module proxy builds.
func withDefaults(buildArgs []string) []string {
	out := append([]string(nil), buildArgs...)
	defaults := []string{"GO_IMAGE=" + BuilderImage}
	if proxy := os.Getenv("GOPROXY"); proxy != "" {
		defaults = append(defaults, "GOPROXY="+proxy)
	}
	for _, d := range defaults {
		name, _, _ := strings.Cut(d, "=")
		if !slices.ContainsFunc(buildArgs, func(a string) bool { return strings.HasPrefix(a, name+"=") }) {
			out = append(out, d)
		}
	}
	return out
}

// run runs a build command and returns its combined output; builds are
// logged with their duration because they dominate e2e run time.
func run(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s %s: %v (%s)", name, strings.Join(args, " "), errOrOK(err), time.Since(start).Round(time.Millisecond))
	return out.String(), err
}

func errOrOK(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

// Image is what tests check about a built image.
type Image struct {
	ID         string
	Size       int64 // bytes, uncompressed
	Layers     int
	User       string
	Entrypoint []string
	Cmd        []string
	Env        []string
	Labels     map[string]string
}

// InspectImage reads an image's metadata with podman image inspect.
func InspectImage(t testing.TB, image string) Image {
	t.Helper()
	out, err := podman(context.Background(), "image", "inspect", "--format", "json", image)
	if err != nil {
		t.Fatal(err)
	}
	var raw []struct {
		ID     string `json:"Id"`
		Size   int64
		RootFS struct{ Layers []string }
		Config struct {
			User       string
			Entrypoint []string
			Cmd        []string
			Env        []string
			Labels     map[string]string
		}
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil || len(raw) != 1 {
		t.Fatalf("podman image inspect %s: unexpected output (%v): %s", image, err, out)
	}
	r := raw[0]
	return Image{ID: r.ID, Size: r.Size, Layers: len(r.RootFS.Layers), User: r.Config.User,
		Entrypoint: r.Config.Entrypoint, Cmd: r.Config.Cmd, Env: r.Config.Env, Labels: r.Config.Labels}
}
