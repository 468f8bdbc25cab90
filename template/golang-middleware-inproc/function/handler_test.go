package function

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

// A plain unit test: call Handle directly.
func TestHandleEchoesBody(t *testing.T) {
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
func TestHandleBehindWatchdog(t *testing.T) {
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
