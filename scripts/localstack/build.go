package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// builder builds functions as their image's Dockerfile does, natively.
type builder struct {
	repo  string // this repository: scripts/shrinkwrap.sh lays out the context
	dir   string // the stack's folder: contexts go in its build/, as faas-cli's
	tests bool   // run the function's own tests, as the image build does unless SKIP_TESTS=true
}

// build lays out fn's build context in build/<name>/ as "faas-cli build"
// does and runs the Dockerfile's steps in it: go work use, the gofmt gate,
// vendor/ moved to the top, the function's tests (when b.tests), then the
// static build, written to bin. The error carries the tools' output, the
// compiler's errors among it.
func (b builder) build(ctx context.Context, fn *function, bin string) error {
	buildCtx := filepath.Join(b.dir, "build", fn.Name)
	if err := os.RemoveAll(buildCtx); err != nil {
		return err
	}
	run := func(dir string, argv ...string) error {
		if out, err := command(ctx, dir, argv...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	if err := run(b.dir, "sh", filepath.Join(b.repo, "scripts", "shrinkwrap.sh"), fn.Template, fn.Handler, buildCtx); err != nil {
		return err
	}
	if err := run(buildCtx, "go", "work", "use"); err != nil {
		return err
	}
	if err := gofmtGate(ctx, buildCtx); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(buildCtx, "function", "vendor")); err == nil {
		if err := os.Rename(filepath.Join(buildCtx, "function", "vendor"), filepath.Join(buildCtx, "vendor")); err != nil {
			return err
		}
	}
	if b.tests {
		if err := run(filepath.Join(buildCtx, "function"), "go", "test", "./..."); err != nil {
			return err
		}
	}
	return run(buildCtx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
}

// gofmtGate fails as the Dockerfile does when a Go file outside vendor/ is
// not gofmt-formatted.
func gofmtGate(ctx context.Context, dir string) error {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "vendor" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	out, err := command(ctx, dir, append([]string{"gofmt", "-l"}, files...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("gofmt: %v\n%s", err, bytes.TrimSpace(out))
	}
	if len(bytes.TrimSpace(out)) > 0 {
		return fmt.Errorf("Run \"gofmt -s -w\" on: %s", strings.Join(strings.Fields(string(out)), " "))
	}
	return nil
}

// command runs argv in dir with CGO off, as the image builds; a done ctx
// kills it.
func command(ctx context.Context, dir string, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd
}
