package function

import (
	"testing"

	handler "github.com/inproc-go/templates/watchdog/go-http"
)

func TestEcho(t *testing.T) {
	res, err := Handle(handler.Request{Body: []byte("ping"), Path: "/"})
	if err != nil || string(res.Body) != "ping" {
		t.Fatalf("got %q, %v; want ping, nil", res.Body, err)
	}
}
