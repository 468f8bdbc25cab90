package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/inproc-go/templates/tests/internal/container"
	"github.com/inproc-go/templates/tests/internal/fnfolder"
)

// TestFirstHour builds, through each template's unchanged Dockerfile, what a
// function author has after "faas-cli new" and a first edit: the stub as
// shipped, a rewritten handler with the example test deleted (faas-cli's
// overlay brings it back; it must skip), one with a passing test of its
// own, and one whose own test fails (the build must fail, naming it).
func TestFirstHour(t *testing.T) {
	requireE2E(t)
	root, err := container.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range fnfolder.Langs {
		edits := append([]fnfolder.Edit{{Name: "stub as shipped", Answer: "Body: hello"}}, fnfolder.Edits(lang)...)
		for i, e := range edits {
			t.Run(lang+"/"+e.Name, func(t *testing.T) {
				hello := filepath.Join(fnfolder.New(t, root, lang, "hello"), "hello")
				e.Apply(t, hello)
				fn := container.Function{Lang: lang, Handler: hello, Tag: "localhost/inproc-e2e/first-hour-" + lang + ":" + string(rune('a'+i))}
				out, err := container.TryBuildFunction(t, fn)
				if e.Fails != "" {
					if err == nil {
						t.Fatalf("the build passed, but %s fails:\n%s", e.Fails, out)
					}
					if !strings.Contains(out, "--- FAIL: "+e.Fails) {
						t.Fatalf("the build failed without naming %s:\n%s", e.Fails, out)
					}
					return
				}
				if err != nil {
					t.Fatalf("build: %v\n%s", err, out)
				}
				c := container.Run(t, fn.Tag)
				expect(t, do(t, http.MethodPost, c.URL("/"), "hello", nil), http.StatusOK, e.Answer)
			})
		}
	}
}

// TestBuildArgs: faas-cli's default build args build without a warning
// about them, a package asked for in ADDITIONAL_PACKAGE is refused with the
// reason, and a function whose go.mod names the builder's own Go version
// builds (go get writes such a line when a dependency needs it).
func TestBuildArgs(t *testing.T) {
	requireE2E(t)
	root, err := container.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	lang := "golang-middleware-inproc"
	t.Run("faas-cli defaults", func(t *testing.T) {
		hello := filepath.Join(fnfolder.New(t, root, lang, "hello"), "hello")
		out := container.BuildFunction(t, container.Function{Lang: lang, Handler: hello,
			Tag: "localhost/inproc-e2e/build-args:defaults", BuildArgs: []string{"ADDITIONAL_PACKAGE="}})
		for _, warning := range []string{"not consumed", "ADDITIONAL_PACKAGE", "TARGETOS", "TARGETARCH"} {
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, warning) && strings.Contains(strings.ToLower(line), "warn") {
					t.Errorf("build warned: %s", line)
				}
			}
		}
	})
	t.Run("ADDITIONAL_PACKAGE refused", func(t *testing.T) {
		hello := filepath.Join(fnfolder.New(t, root, lang, "hello"), "hello")
		out, err := container.TryBuildFunction(t, container.Function{Lang: lang, Handler: hello,
			Tag: "localhost/inproc-e2e/build-args:package", BuildArgs: []string{"ADDITIONAL_PACKAGE=curl"}})
		if err == nil || !strings.Contains(out, `ADDITIONAL_PACKAGE="curl": this image is FROM scratch and has no package manager`) {
			t.Fatalf("build with ADDITIONAL_PACKAGE=curl: err %v, want a failure saying why:\n%s", err, out)
		}
	})
	t.Run("go line at the builder's Go", func(t *testing.T) {
		hello := filepath.Join(fnfolder.New(t, root, lang, "hello"), "hello")
		// The builder image is made from this machine's toolchain.
		version := strings.TrimPrefix(runtime.Version(), "go")
		mod := readFile(t, filepath.Join(hello, "go.mod"))
		raised := regexp.MustCompile(`(?m)^go [0-9.]+$`).ReplaceAllString(mod, "go "+version)
		if raised == mod {
			t.Fatalf("go.mod has no go line below %s to raise:\n%s", version, mod)
		}
		fnfolder.Write(t, filepath.Join(hello, "go.mod"), raised)
		tag := "localhost/inproc-e2e/build-args:go-version"
		container.BuildFunction(t, container.Function{Lang: lang, Handler: hello, Tag: tag})
		c := container.Run(t, tag)
		expect(t, do(t, http.MethodPost, c.URL("/"), "hello", nil), http.StatusOK, "Body: hello")
	})
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
