package function

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEcho(t *testing.T) {
	rec := httptest.NewRecorder()
	Handle(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("ping")))
	if rec.Body.String() != "ping" {
		t.Fatalf("body = %q, want ping", rec.Body.String())
	}
}
