package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"

	"github.com/inproc-go/templates/tests/internal/container"
)

// TestModules builds functions that depend on modules, one image per case,
// from the handler folders in testdata/modules, and calls them.
func TestModules(t *testing.T) {
	requireE2E(t)
	tests := []struct {
		name, lang, handler string
		vendor              bool     // run scripts/vendor-function.sh on a copy of the handler first
		buildArgs           []string // NAME=VALUE
		body, want          string
	}{{
		name: "third-party", lang: "golang-middleware-inproc", handler: "third-party",
		body: "world hello", want: "go-cmp equal=true",
	}, {
		name: "sub-packages", lang: "golang-http-inproc", handler: "sub-packages",
		body: "Ada", want: "Hello, Ada (from handler/function/internal/greet)",
	}, {
		// GOPROXY=off: the build must not need to download any module.
		name: "vendored", lang: "golang-middleware-inproc", handler: "third-party", vendor: true,
		buildArgs: []string{"GOFLAGS=-mod=vendor", "GOPROXY=off"},
		body:      "world hello", want: "go-cmp equal=true",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			handler := filepath.Join("testdata", "modules", tc.handler)
			if tc.vendor {
				handler = vendorFunction(t, tc.lang, handler)
			}
			image := "localhost/inproc-e2e/modules-" + tc.name + ":latest"
			container.BuildFunction(t, container.Function{
				Lang: tc.lang, Handler: handler, Tag: image, BuildArgs: tc.buildArgs,
			})
			c := container.Run(t, image)
			expect(t, do(t, http.MethodPost, c.URL("/"), tc.body, nil), http.StatusOK, tc.want)
		})
	}
}

// vendorFunction copies handler to a temp dir, vendors it with
// scripts/vendor-function.sh and returns the copy.
func vendorFunction(t *testing.T, lang, handler string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(handler)); err != nil {
		t.Fatal(err)
	}
	root, err := container.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", filepath.Join(root, "scripts", "vendor-function.sh"), "-l", lang, "-d", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vendor-function.sh: %v\n%s", err, out)
	}
	modules, err := os.ReadFile(filepath.Join(dir, "vendor", "modules.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(modules, []byte("## workspace\n")) || !bytes.Contains(modules, []byte("\n# github.com/google/go-cmp ")) {
		t.Fatalf("vendor/modules.txt is not a workspace vendor dir with go-cmp:\n%s", modules)
	}
	return dir
}

const greeterPath = "private.example.com/greeter"

// greeter is the private module's source.
var greeter = map[string]string{
	"go.mod": "module " + greeterPath + "\n\ngo 1.25\n",
	"greeter.go": `// Package greeter stands for a module only a private proxy serves.
package greeter

// Hello greets name.
func Hello(name string) string { return "Hello, " + name + ", from a private module" }
`,
}

// TestPrivateModule builds a function that requires a module served only by
// an authenticated module proxy on 127.0.0.1, with the credentials in a
// netrc file passed as the build secret "netrc".
//
// The go command sends netrc credentials over HTTPS only, so the proxy
// speaks TLS and the build uses a builder image (GO_IMAGE) that trusts its
// certificate, as a company proxy behind a private CA would need.
func TestPrivateModule(t *testing.T) {
	requireE2E(t)
	// A new version on every run: the builds' module cache mount outlives
	// them, and a cached copy would let the build without credentials pass.
	version := fmt.Sprintf("v1.0.%d", time.Now().UnixNano())
	proxy, zips := startModuleProxy(t, greeterPath, version, "e2e-user", "e2e-secret")
	tmp := t.TempDir()

	// The builder image trusts the proxy's certificate; so does go get below.
	goImage := "localhost/inproc-e2e/golang-trusts-proxy:latest"
	builder := filepath.Join(tmp, "builder")
	ca := filepath.Join(builder, "proxy-ca.pem")
	writeFile(t, ca, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw})))
	writeFile(t, filepath.Join(builder, "Containerfile"), "FROM "+container.BuilderImage+"\nCOPY proxy-ca.pem /etc/ssl/certs/e2e-proxy-ca.pem\n")
	container.BuildDir(t, builder, goImage)

	// Go (1.26) matches a netrc machine against host:port when the proxy
	// URL has a port, so the entry names the port too (golang/go#81253).
	netrc := filepath.Join(tmp, "netrc")
	writeFile(t, netrc, fmt.Sprintf("machine %s login e2e-user password e2e-secret\n", strings.TrimPrefix(proxy.URL, "https://")))

	// What the user does: go get in the handler folder, with the same settings.
	handler := filepath.Join(tmp, "handler")
	if err := os.CopyFS(handler, os.DirFS(filepath.Join("testdata", "modules", "private"))); err != nil {
		t.Fatal(err)
	}
	goGet := exec.Command("go", "get", greeterPath+"@"+version)
	goGet.Dir = handler
	goGet.Env = append(os.Environ(), "GOWORK=off", "GOPROXY="+proxy.URL, "GONOSUMDB=private.example.com",
		"NETRC="+netrc, "SSL_CERT_FILE="+ca, "GOMODCACHE="+filepath.Join(tmp, "modcache"), "GOFLAGS=-modcacherw")
	if out, err := goGet.CombinedOutput(); err != nil {
		t.Fatalf("go get: %v\n%s", err, out)
	}

	fn := container.Function{
		Lang: "golang-middleware-inproc", Handler: handler, Tag: "localhost/inproc-e2e/modules-private:latest",
		BuildArgs: []string{"GO_IMAGE=" + goImage, "GOPROXY=" + proxy.URL + "," + publicProxy(),
			"GONOSUMDB=private.example.com"},
	}
	// Without credentials first: after a successful build the module
	// cache mount would hold the module.
	t.Run("without netrc", func(t *testing.T) {
		out, err := container.TryBuildFunction(t, fn)
		if err == nil {
			t.Fatalf("build without the netrc secret succeeded:\n%s", out)
		}
		i := strings.Index(out, "401 Unauthorized")
		if i < 0 {
			t.Fatalf("build failed without the proxy's 401 in its output:\n%s", out)
		}
		start := strings.LastIndexByte(out[:i], '\n') + 1
		t.Logf("failed as expected: %s", out[start:i+len("401 Unauthorized")])
	})
	t.Run("with netrc", func(t *testing.T) {
		before := zips.Load()
		fn.Secrets = []string{"id=netrc,src=" + netrc}
		container.BuildFunction(t, fn)
		if zips.Load() == before {
			t.Error("the build did not download the module from the private proxy")
		}
		c := container.Run(t, fn.Tag)
		expect(t, do(t, http.MethodPost, c.URL("/"), "Ada", nil), http.StatusOK, "Hello, Ada, from a private module")
	})
}

// startModuleProxy serves the greeter module as path@version over the
// GOPROXY protocol (list, info, mod, zip) on 127.0.0.1 with TLS, to clients
// that send basic auth user:password; others get 401. It returns the server
// and a counter of zips served.
func startModuleProxy(t *testing.T, path, version, user, password string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	src := t.TempDir()
	for name, body := range greeter {
		writeFile(t, filepath.Join(src, name), body)
	}
	var zipData bytes.Buffer
	if err := zip.CreateFromDir(&zipData, module.Version{Path: path, Version: version}, src); err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(map[string]any{"Version": version, "Time": time.Now().UTC()})
	files := map[string][]byte{
		"/" + path + "/@v/list":                 []byte(version + "\n"),
		"/" + path + "/@v/" + version + ".info": info,
		"/" + path + "/@v/" + version + ".mod":  []byte(greeter["go.mod"]),
		"/" + path + "/@v/" + version + ".zip":  zipData.Bytes(),
	}
	var zips atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusOK
		defer func() { t.Logf("module proxy: %s %s: %d", r.Method, r.URL.Path, status) }()
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			status = http.StatusUnauthorized
			w.Header().Set("WWW-Authenticate", `Basic realm="private modules"`)
			http.Error(w, "credentials required", status)
			return
		}
		body, ok := files[r.URL.Path]
		if !ok {
			status = http.StatusNotFound // the go command then asks the next proxy
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(r.URL.Path, ".zip") {
			zips.Add(1)
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &zips
}

// publicProxy is where modules other than the private one come from.
func publicProxy() string {
	if p := os.Getenv("GOPROXY"); p != "" {
		return p
	}
	return "https://proxy.golang.org"
}

func writeFile(t *testing.T, name, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
