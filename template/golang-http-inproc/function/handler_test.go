package function

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	handler "github.com/inproc-go/templates/watchdog/go-http"
	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

// These two tests are examples: they test the handler.go this template
// ships, and skip once handler.go is yours. Write your own tests beside
// them (any *_test.go file); the build runs every test of your folder and
// fails when one fails. faas-cli copies the template's files under yours,
// so this file comes back even if you delete it: it then just skips.

// A plain unit test: call Handle directly.
func TestStubEchoesBody(t *testing.T) {
	skipUnlessStub(t)
	res, err := Handle(handler.Request{Body: []byte("hello"), Method: http.MethodPost})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", res.StatusCode)
	}
	if got, want := string(res.Body), "Body: hello"; got != want {
		t.Fatalf("body = %q, want %q", got, want)
	}
}

// The same call through the real watchdog, as the platform makes it.
func TestStubBehindWatchdog(t *testing.T) {
	skipUnlessStub(t)
	srv := watchdogtest.New(t, handler.HandlerFunc(Handle), "exec_timeout=2s")

	res, err := http.Post(srv.URL+"/", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || string(body) != "Body: hello" {
		t.Fatalf("got %d %q, want 200 %q", res.StatusCode, body, "Body: hello")
	}
	if res.Header.Get("X-Call-Id") == "" {
		t.Fatal("no X-Call-Id on the response")
	}
}

// stubSHA256 is the SHA-256 of the handler.go this template ships.
const stubSHA256 = "25130ccc3baa8671d40107f2a2b8cc40b04f6a6fda5e80f924df65e36d529b22"

// skipUnlessStub skips an example test once handler.go is no longer the
// template's stub, since the example can only know what the stub answers.
func skipUnlessStub(t *testing.T) {
	t.Helper()
	src, err := os.ReadFile("handler.go")
	if err != nil {
		t.Skipf("example test of the template's handler.go skipped: %v", err)
	}
	sum := sha256.Sum256([]byte(strings.ReplaceAll(string(src), "\r\n", "\n")))
	if hex.EncodeToString(sum[:]) != stubSHA256 {
		t.Skip("example test of the template's handler.go skipped: handler.go is yours now (edit this test for it, or delete it)")
	}
}
