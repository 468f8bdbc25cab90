package function

import (
	"net/http"
	"testing"

	handler "github.com/inproc-go/templates/watchdog/go-http"
)

func TestHandleEchoes(t *testing.T) {
	for _, h := range []http.Header{nil, {"Content-Type": {"application/json"}}} {
		res, err := Handle(handler.Request{Body: []byte("hello"), Header: h})
		if err != nil || res.StatusCode != 200 || string(res.Body) != "hello" || res.Header.Get("Content-Type") != h.Get("Content-Type") {
			t.Fatalf("request header %v: got %d %q %v %v, want 200 hello and the same Content-Type", h, res.StatusCode, res.Body, res.Header, err)
		}
	}
}
