package function

import (
	"testing"

	handler "github.com/inproc-go/templates/watchdog/go-http"
)

func TestHandleEchoes(t *testing.T) {
	res, err := Handle(handler.Request{Body: []byte("hello")})
	if err != nil || res.StatusCode != 200 || string(res.Body) != "hello" {
		t.Fatalf("got %d %q %v, want 200 hello", res.StatusCode, res.Body, err)
	}
}
