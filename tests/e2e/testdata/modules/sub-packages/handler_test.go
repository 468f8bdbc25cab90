package function

import (
	"testing"

	handler "github.com/inproc-go/templates/watchdog/go-http"
)

func TestHandle(t *testing.T) {
	res, err := Handle(handler.Request{Body: []byte("Ada")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(res.Body), "Hello, Ada (from handler/function/internal/greet)"; res.StatusCode != 200 || got != want {
		t.Fatalf("Handle = %d %q, want 200 %q", res.StatusCode, got, want)
	}
}
