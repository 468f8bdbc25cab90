package main

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The sources of the images that do not come from a template. cmd/ is part
// of the tests module (so it is vetted and tested); the build context gets a
// go.mod of its own.
//
//go:embed cmd/echo/main.go cmd/proxy/main.go images/*.Dockerfile
//go:embed testdata/golang-middleware-inproc testdata/golang-http-inproc
var sources embed.FS

// Variant is one image under test.
type Variant struct {
	Key      string   // short name used in tables and container names
	Label    string   // what the table and chart call it
	Template string   // template folder, or "" for an image of the benchmark's own
	Binaries []string // paths of the static binaries inside the image
	Image    string   // tag, set when built
}

// The bare server comes first and the floor second, each built before an
// image that needs it: every ratio is to them (bareKey, floorKey).
func variants() []*Variant {
	return []*Variant{
		{Key: bareKey, Label: "bare net/http", Binaries: []string{"/home/app/handler"}},
		{Key: floorKey, Label: "the contract's floor", Binaries: []string{"/home/app/handler"}},
		{Key: "middleware", Label: "golang-middleware-inproc", Template: "golang-middleware-inproc",
			Binaries: []string{"/home/app/handler"}},
		{Key: "http", Label: "golang-http-inproc", Template: "golang-http-inproc",
			Binaries: []string{"/home/app/handler"}},
		{Key: "twoproc", Label: "two-process baseline", Binaries: []string{"/home/app/fwatchdog", "/home/app/handler"}},
	}
}

const imagePrefix = "localhost/inproc-bench/"

// buildImages builds every variant's image with buildah (layer cache on, so
// a second run only rebuilds what changed) and returns the build time.
func buildImages(ctx context.Context, repo, goImage, work string, vs []*Variant, logf func(string, ...any)) (time.Duration, error) {
	start := time.Now()
	args := []string{"GO_IMAGE=" + goImage}
	if p := os.Getenv("GOPROXY"); p != "" {
		args = append(args, "GOPROXY="+p)
	}
	for _, v := range vs {
		v.Image = imagePrefix + v.Key + ":latest"
		t0 := time.Now()
		var err error
		if v.Template != "" {
			err = buildTemplate(ctx, repo, work, v, args)
		} else {
			err = buildOwn(ctx, work, v, args)
		}
		if err != nil {
			return 0, fmt.Errorf("building %s: %w", v.Image, err)
		}
		logf("built %s in %s", v.Image, time.Since(t0).Round(100*time.Millisecond))
	}
	return time.Since(start), nil
}

// buildTemplate builds the template's own Dockerfile with the benchmark's
// echo handler through scripts/ci/build-function.sh, as a user's build would.
func buildTemplate(ctx context.Context, repo, work string, v *Variant, buildArgs []string) error {
	handler := filepath.Join(work, "handler-"+v.Key)
	if err := copyEmbedded("testdata/"+v.Template, handler); err != nil {
		return err
	}
	args := []string{filepath.Join(repo, "scripts", "ci", "build-function.sh"), "-r", repo,
		"-l", v.Template, "-d", handler, "-t", v.Image, "-o", filepath.Join(work, "build-"+v.Key)}
	for _, a := range buildArgs {
		args = append(args, "-b", a)
	}
	_, err := command(ctx, "sh", args...)
	return err
}

// buildOwn lays out cmd/echo and cmd/proxy as module "bench" and builds
// images/KEY.Dockerfile over it. The floor's Dockerfile starts from the bare
// image (built first) and only sets its command.
func buildOwn(ctx context.Context, work string, v *Variant, buildArgs []string) error {
	dir := filepath.Join(work, "context-"+v.Key)
	for _, d := range []string{"echo", "proxy"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
		src, err := sources.ReadFile("cmd/" + d + "/main.go")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, d, "main.go"), src, 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module bench\n\ngo 1.25\n"), 0o644); err != nil {
		return err
	}
	dockerfile, err := sources.ReadFile("images/" + v.Key + ".Dockerfile")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), dockerfile, 0o644); err != nil {
		return err
	}
	args := []string{"bud", "--isolation", "chroot", "--layers", "--pull=never", "-t", v.Image}
	for _, a := range buildArgs {
		args = append(args, "--build-arg", a)
	}
	_, err = command(ctx, "buildah", append(args, dir)...)
	return err
}

func copyEmbedded(root, dst string) error {
	return fs.WalkDir(sources, root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dst, strings.TrimPrefix(path, root))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := sources.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// Sizes are a variant's static binaries (summed) and its image, in bytes.
type Sizes struct {
	Binary int64
	Image  int64
}

// imageSizes reads the image size from podman and the binaries' sizes from
// the mounted image. With keep set, the binaries are copied there too (for
// go tool nm and friends).
func imageSizes(ctx context.Context, v *Variant, keep string) (Sizes, error) {
	var s Sizes
	out, err := podman(ctx, "image", "inspect", "--format", "{{.Size}}", v.Image)
	if err != nil {
		return s, err
	}
	if s.Image, err = strconv.ParseInt(out, 10, 64); err != nil {
		return s, fmt.Errorf("image size of %s: %q", v.Image, out)
	}
	root, err := podman(ctx, "image", "mount", v.Image)
	if err != nil {
		return s, err
	}
	defer podman(context.Background(), "image", "unmount", v.Image) //nolint:errcheck // best effort
	for _, b := range v.Binaries {
		p := filepath.Join(root, b)
		fi, err := os.Stat(p)
		if err != nil {
			return s, fmt.Errorf("binary of %s: %w", v.Image, err)
		}
		s.Binary += fi.Size()
		if keep != "" {
			data, err := os.ReadFile(p)
			if err != nil {
				return s, err
			}
			name := filepath.Join(keep, v.Key+"-"+filepath.Base(b))
			if err := os.WriteFile(name, data, 0o755); err != nil {
				return s, err
			}
		}
	}
	return s, nil
}
