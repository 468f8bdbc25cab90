package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildAsTheDockerfile: the build's gates are the image's: gofmt, and
// the function's own tests with -tests (skipped without it).
func TestBuildAsTheDockerfile(t *testing.T) {
	repo := withSDKProxy(t)
	const lang = "golang-middleware-inproc"
	template := filepath.Join(repo, "template", lang)
	failing := "package function\n\nimport \"testing\"\n\nfunc TestFailsOnPurpose(t *testing.T) { t.Fatal(\"on purpose\") }\n"
	for _, tc := range []struct {
		name  string
		tests bool
		files map[string]string // over the template's function/
		want  string            // in the error; "" for a build that passes
	}{
		{"unformatted", false, map[string]string{"extra.go": "package function\nvar  x = 1\n"}, `Run "gofmt -s -w" on: `},
		{"failing test, -tests", true, map[string]string{"fail_test.go": failing}, "TestFailsOnPurpose"},
		{"failing test, no -tests", false, map[string]string{"fail_test.go": failing}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			handler := filepath.Join(dir, "fn")
			if err := os.CopyFS(handler, os.DirFS(filepath.Join(template, "function"))); err != nil {
				t.Fatal(err)
			}
			writeFiles(t, handler, tc.files)
			bin := filepath.Join(dir, "handler")
			err := builder{repo: repo, dir: dir, tests: tc.tests}.build(context.Background(), &function{Name: "fn", Handler: handler, Template: template}, bin)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("build failed: %v", err)
				}
				if _, err := os.Stat(bin); err != nil {
					t.Fatalf("no binary: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("build error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
