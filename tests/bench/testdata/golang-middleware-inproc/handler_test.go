package function

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandleEchoes(t *testing.T) {
	rec := httptest.NewRecorder()
	Handle(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("hello")))
	if rec.Code != http.StatusOK || rec.Body.String() != "hello" {
		t.Fatalf("got %d %q, want 200 hello", rec.Code, rec.Body.String())
	}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	rec = httptest.NewRecorder()
	Handle(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != "{}" || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q %v, want 200 {} with the request's Content-Type", rec.Code, rec.Body.String(), rec.Header())
	}
}
