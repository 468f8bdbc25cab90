package function

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandle(t *testing.T) {
	rec := httptest.NewRecorder()
	Handle(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Ada")))
	if got, want := rec.Body.String(), "Hello, Ada, from a private module"; got != want {
		t.Fatalf("body = %q, want %q", got, want)
	}
}
