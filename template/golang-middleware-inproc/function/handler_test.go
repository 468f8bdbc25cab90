package function

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

// These three tests are examples: they test the handler.go this template
// ships, and skip once handler.go is yours. Write your own tests beside
// them (any *_test.go file); the build runs every test of your folder and
// fails when one fails. faas-cli copies the template's files under yours,
// so this file comes back even if you delete it: it then just skips.

// A plain unit test: call Handle directly.
func TestStubEchoesBody(t *testing.T) {
	skipUnlessStub(t)
	rec := httptest.NewRecorder()
	Handle(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("hello")))

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if got, want := rec.Body.String(), "Body: hello"; got != want {
		t.Fatalf("body = %q, want %q", got, want)
	}
}

// The same call through the real watchdog, as the platform makes it.
func TestStubBehindWatchdog(t *testing.T) {
	skipUnlessStub(t)
	srv := watchdogtest.New(t, http.HandlerFunc(Handle), "exec_timeout=2s")

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

// A secret and a hook as a test gives and sees them: the test hands the
// function its secrets without writing files, and reads what a start hook
// logged. The hooks your package registers with watchdog.OnStart run here
// too; this one is the test's own and does what yours might. Settings such
// as log_format are the watchdog's; set your function's own environment
// variables with t.Setenv.
func TestStubSecretAndHook(t *testing.T) {
	skipUnlessStub(t)
	loadKey := func(ctx context.Context) error {
		key, err := watchdog.Secret(ctx, "api-key")
		if err != nil {
			return err
		}
		watchdog.Logger(ctx).Info("api key loaded", "length", len(key))
		return nil
	}
	srv := watchdogtest.NewWith(t, http.HandlerFunc(Handle), watchdogtest.Options{
		Env:      []string{"log_format=json"},
		Secrets:  map[string]string{"api-key": "test-key"},
		Watchdog: []watchdog.Option{watchdog.WithStart(loadKey)},
	})

	srv.WaitLog(t, "from the start hook", func(r map[string]any) bool {
		return r["msg"] == "api key loaded" && r["length"] == float64(len("test-key"))
	})
}

// stubSHA256 is the SHA-256 of the handler.go this template ships.
const stubSHA256 = "c6d701b84689079347244dbc1a4d07f8459105fdf05001ee3161060972222210"

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
