package function

import (
	"io"
	"net/http"
	"strings"
	"testing"

	handler "github.com/inproc-go/templates/watchdog/go-http"
	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

// A plain unit test: call Handle directly.
func TestHandleEchoesBody(t *testing.T) {
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
func TestHandleBehindWatchdog(t *testing.T) {
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
