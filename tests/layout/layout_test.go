// Package layout checks each template as a function author meets it,
// without containers: the folder "faas-cli new" makes is a Go module that
// tests, vets and tidies on its own, and the build context "faas-cli build"
// lays out builds and runs the function's tests, whatever the author did to
// the example test.
package layout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"

	"github.com/inproc-go/templates/tests/internal/container"
	"github.com/inproc-go/templates/tests/internal/fnfolder"
)

// requireProxy skips t unless the SDK's module proxy is on GOPROXY, and
// fails it under CI, where scripts/test.sh always provides one.
func requireProxy(t *testing.T) string {
	t.Helper()
	if os.Getenv("INPROC_SDK_PROXY") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("INPROC_SDK_PROXY is not set: run the tests through scripts/test.sh")
		}
		t.Skip("needs the SDK's module proxy: run as scripts/sdk.sh run -- go test ./layout/")
	}
	root, err := container.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// goCmd runs go in dir, outside any workspace above it, and returns its
// combined output.
func goCmd(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustGo(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := goCmd(t, dir, args...)
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return out
}

// testResults runs go test -json in dir and returns each test's final
// action (pass, fail, skip) and the output of the run.
func testResults(t *testing.T, dir string) (map[string]string, string, error) {
	t.Helper()
	out, err := goCmd(t, dir, "test", "-count=1", "-json", "./...")
	results := map[string]string{}
	var text strings.Builder
	for _, line := range strings.Split(out, "\n") {
		var ev struct{ Action, Test, Output string }
		if json.Unmarshal([]byte(line), &ev) != nil {
			text.WriteString(line + "\n") // build errors are not JSON
			continue
		}
		text.WriteString(ev.Output)
		if ev.Test != "" && (ev.Action == "pass" || ev.Action == "fail" || ev.Action == "skip") {
			results[ev.Test] = ev.Action
		}
	}
	return results, text.String(), err
}

// TestNewFolderIsAModule: in the folder faas-cli new makes, go test, go vet
// and go mod tidy work as in any Go module, the example tests run and pass,
// and tidy changes nothing.
func TestNewFolderIsAModule(t *testing.T) {
	root := requireProxy(t)
	for _, lang := range fnfolder.Langs {
		t.Run(lang, func(t *testing.T) {
			hello := filepath.Join(fnfolder.New(t, root, lang, "hello"), "hello")
			results, out, err := testResults(t, hello)
			if err != nil {
				t.Fatalf("go test ./... in the new folder: %v\n%s", err, out)
			}
			for _, name := range []string{"TestStubEchoesBody", "TestStubBehindWatchdog", "TestStubSecretAndHook"} {
				if results[name] != "pass" {
					t.Errorf("example test %s: %q, want pass (is stubSHA256 in handler_test.go the hash of handler.go?)\n%s", name, results[name], out)
				}
			}
			mustGo(t, hello, "vet", "./...")
			before := readAll(t, hello, "go.mod", "go.sum")
			mustGo(t, hello, "mod", "tidy")
			if after := readAll(t, hello, "go.mod", "go.sum"); after != before {
				t.Errorf("go mod tidy changed the new folder's go.mod/go.sum:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// TestTemplateIsTidy: each template's own go.mod and go.sum are what go mod
// tidy makes of them in the build context, default and jwt builds alike.
func TestTemplateIsTidy(t *testing.T) {
	root := requireProxy(t)
	for _, lang := range fnfolder.Langs {
		t.Run(lang, func(t *testing.T) {
			ctx := shrinkwrap(t, root, lang, filepath.Join(root, "template", lang, "function"))
			before := readAll(t, ctx, "go.mod", "go.sum")
			mustGo(t, ctx, "mod", "tidy")
			if after := readAll(t, ctx, "go.mod", "go.sum"); after != before {
				t.Errorf("go mod tidy changed template/%s's go.mod/go.sum (run scripts/sdk.sh bump, which tidies every pin):\nbefore:\n%s\nafter:\n%s", lang, before, after)
			}
		})
	}
}

// TestBuildContext builds each template as faas-cli build lays it out, for
// the folder as faas-cli new made it and after each edit of an author's
// first hour: the build runs the folder's tests and fails, naming the test,
// only when one of the author's own tests fails.
func TestBuildContext(t *testing.T) {
	root := requireProxy(t)
	for _, lang := range fnfolder.Langs {
		edits := append([]fnfolder.Edit{{Name: "as faas-cli new made it"}}, fnfolder.Edits(lang)...)
		edits = append(edits, fnfolder.Edit{
			// What go get writes when a dependency needs a newer Go.
			Name:  "go line at the toolchain's own version",
			Files: map[string]string{"go.mod": goModAt(t, root, lang, strings.TrimPrefix(runtime.Version(), "go"))},
		}, fnfolder.Edit{
			// A folder from the classic templates: go.mod with no requirement.
			Name:   "classic folder, go.mod without the SDK",
			Files:  map[string]string{"go.mod": "module handler/function\n\ngo 1.25\n"},
			Remove: []string{"go.sum"},
		})
		for _, e := range edits {
			t.Run(lang+"/"+e.Name, func(t *testing.T) {
				hello := filepath.Join(fnfolder.New(t, root, lang, "hello"), "hello")
				e.Apply(t, hello)
				ctx := shrinkwrap(t, root, lang, hello)
				results, out, err := testResults(t, filepath.Join(ctx, "function"))
				if e.Fails != "" {
					if err == nil || results[e.Fails] != "fail" {
						t.Fatalf("go test passed or did not fail %s (results %v):\n%s", e.Fails, results, out)
					}
					return
				}
				if err != nil {
					t.Fatalf("go test in the build context: %v\n%s", err, out)
				}
				for name, action := range results {
					if action == "skip" && !strings.Contains(out, "handler.go is yours now") {
						t.Errorf("%s skipped without saying why:\n%s", name, out)
					}
				}
				mustGo(t, ctx, "vet", "./...")
				mustGo(t, ctx, "vet", "-tags", "jwt", "./...")
				mustGo(t, ctx, "build", "-trimpath", "-ldflags", "-s -w", "-o", "handler", ".")
			})
		}
	}
}

// shrinkwrap lays out the build context of the repository's template lang
// in a new folder; see layOut.
func shrinkwrap(t *testing.T, root, lang, handler string) string {
	t.Helper()
	ctx := filepath.Join(t.TempDir(), "build")
	layOut(t, root, filepath.Join(root, "template", lang), handler, ctx)
	return ctx
}

// layOut lays out the build context ctx as faas-cli build does, with
// scripts/shrinkwrap.sh: the template folder, then the handler over its
// function/; then raises go.work's go line as the Dockerfile does (go work
// use).
func layOut(t *testing.T, root, template, handler, ctx string) {
	t.Helper()
	cmd := exec.Command("sh", filepath.Join(root, "scripts", "shrinkwrap.sh"), template, handler, ctx)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shrinkwrap.sh: %v\n%s", err, out)
	}
	mustGo(t, ctx, "work", "use")
}

// TestPinnedByRef builds each template pinned by ref as faas-cli 0.18 lays
// it out: "faas-cli template pull URL#REF" (or lang: TEMPLATE@REF in
// stack.yaml) writes template/TEMPLATE@REF/, and "faas-cli build" takes the
// folder of template/ named exactly as the function's lang, copies it into
// build/NAME/ and the handler over build/NAME/function/. The ref is the
// release tag of the SDK version the templates pin (docs/releases.md), and
// the build selects that version.
func TestPinnedByRef(t *testing.T) {
	root := requireProxy(t)
	ref := strings.TrimSpace(mustRun(t, "sh", filepath.Join(root, "scripts", "sdk.sh"), "version"))
	for _, lang := range fnfolder.Langs {
		t.Run(lang, func(t *testing.T) {
			pinned := lang + "@" + ref
			stack := fnfolder.New(t, root, pinned, "hello")
			if yaml := readAll(t, stack, "stack.yaml"); !strings.Contains(yaml, "\n    lang: "+pinned+"\n") {
				t.Fatalf("stack.yaml does not name lang %s:\n%s", pinned, yaml)
			}
			template := templateFolder(t, stack, pinned)
			ctx := filepath.Join(stack, "build", "hello")
			layOut(t, root, template, filepath.Join(stack, "hello"), ctx)
			if _, err := os.Stat(filepath.Join(ctx, "meta.json")); err != nil {
				t.Errorf("the build context lacks the meta.json faas-cli writes into template/%s/: %v", pinned, err)
			}
			results, out, err := testResults(t, filepath.Join(ctx, "function"))
			if err != nil || results["TestStubEchoesBody"] != "pass" {
				t.Fatalf("go test in build/hello/function: %v (TestStubEchoesBody: %q)\n%s", err, results["TestStubEchoesBody"], out)
			}
			mustGo(t, ctx, "build", "-trimpath", "-ldflags", "-s -w", "-o", "handler", ".")
			if got := strings.TrimSpace(mustGo(t, ctx, "list", "-m", "github.com/inproc-go/templates/watchdog")); got != "github.com/inproc-go/templates/watchdog "+ref {
				t.Errorf("template %s builds with %q, want the SDK at its ref, %s", pinned, got, ref)
			}
		})
	}
}

// templateFolder is the folder of stack/template/ whose name is lang, as
// faas-cli build looks a function's template up; the test fails if none is.
func templateFolder(t *testing.T, stack, lang string) string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(stack, "template"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && e.Name() == lang {
			return filepath.Join(stack, "template", e.Name())
		}
		names = append(names, e.Name())
	}
	t.Fatalf("faas-cli build would find no template %s in template/ (it holds %q)", lang, names)
	return ""
}

// goModAt is the template stub's go.mod with its go line set to version.
func goModAt(t *testing.T, root, lang, version string) string {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(root, "template", lang, "function", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(mod), "\n") {
		if strings.HasPrefix(line, "go ") {
			line = "go " + version + "\n"
		}
		out.WriteString(line)
	}
	return out.String()
}

func readAll(t *testing.T, dir string, names ...string) string {
	t.Helper()
	var b strings.Builder
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("--- " + name + "\n" + string(data))
	}
	return b.String()
}

// TestUpgradeFromTheFolder: "go get ...watchdog@latest" in the function's
// folder takes a version above the template's pin, and the build context's
// workspace selects it, with no template re-pull.
func TestUpgradeFromTheFolder(t *testing.T) {
	root := requireProxy(t)
	proxy := t.TempDir()
	if out, err := exec.Command("sh", filepath.Join(root, "scripts", "sdk.sh"), "proxy", proxy).CombinedOutput(); err != nil {
		t.Fatalf("sdk.sh proxy: %v\n%s", err, out)
	}
	pinned := strings.TrimSpace(mustRun(t, "sh", filepath.Join(root, "scripts", "sdk.sh"), "version"))
	higher := publishHigher(t, root, proxy, pinned)

	hello := filepath.Join(fnfolder.New(t, root, "golang-middleware-inproc", "hello"), "hello")
	get := exec.Command("go", "get", "github.com/inproc-go/templates/watchdog@latest")
	get.Dir = hello
	// A module cache of its own: the higher version is this test's alone, and
	// a shared cache would keep it for every later build of that version.
	get.Env = append(os.Environ(), "GOPROXY=file://"+filepath.ToSlash(proxy)+","+os.Getenv("GOPROXY"),
		"GONOSUMDB=github.com/inproc-go/templates", "GOMODCACHE="+t.TempDir(), "GOFLAGS=-modcacherw")
	if out, err := get.CombinedOutput(); err != nil {
		t.Fatalf("go get ...@latest: %v\n%s", err, out)
	}
	ctx := shrinkwrap(t, root, "golang-middleware-inproc", hello)
	list := exec.Command("go", "list", "-m", "github.com/inproc-go/templates/watchdog")
	list.Dir = ctx
	list.Env = get.Env
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m in the build context: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "github.com/inproc-go/templates/watchdog "+higher {
		t.Errorf("the workspace selects %q, want %s (the function's) over the template's %s", got, higher, pinned)
	}
	build := exec.Command("go", "build", "-o", "handler", ".")
	build.Dir = ctx
	build.Env = get.Env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build with the upgraded SDK: %v\n%s", err, out)
	}
}

// publishHigher adds to the proxy folder watchdog/ zipped as the next
// minor version after pinned, with one file more, and lists it.
func publishHigher(t *testing.T, root, proxy, pinned string) string {
	t.Helper()
	var major, minor, patch int
	if _, err := fmt.Sscanf(pinned, "v%d.%d.%d", &major, &minor, &patch); err != nil {
		t.Fatalf("pinned version %q: %v", pinned, err)
	}
	higher := fmt.Sprintf("v%d.%d.0", major, minor+1)
	src := filepath.Join(t.TempDir(), "watchdog")
	if err := os.CopyFS(src, os.DirFS(filepath.Join(root, "watchdog"))); err != nil {
		t.Fatal(err)
	}
	fnfolder.Write(t, filepath.Join(src, "upgraded.go"), "package watchdog\n\n// Upgraded marks the higher version.\nconst Upgraded = true\n")
	dir := filepath.Join(proxy, "github.com", "inproc-go", "templates", "watchdog", "@v")
	var zipped bytes.Buffer
	if err := zip.CreateFromDir(&zipped, module.Version{Path: "github.com/inproc-go/templates/watchdog", Version: higher}, src); err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	fnfolder.Write(t, filepath.Join(dir, higher+".zip"), zipped.String())
	fnfolder.Write(t, filepath.Join(dir, higher+".mod"), string(mod))
	fnfolder.Write(t, filepath.Join(dir, higher+".info"), `{"Version":"`+higher+`","Time":"2026-01-01T00:00:00Z"}`)
	fnfolder.Write(t, filepath.Join(dir, "list"), pinned+"\n"+higher+"\n")
	if err := os.Remove(filepath.Join(dir, "..", "@latest")); err != nil {
		t.Fatal(err)
	}
	return higher
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}
