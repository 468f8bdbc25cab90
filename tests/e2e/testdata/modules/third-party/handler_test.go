package function

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandle(t *testing.T) {
	for body, want := range map[string]string{
		"world hello": "go-cmp equal=true",
		"hello there": "go-cmp equal=false",
	} {
		rec := httptest.NewRecorder()
		Handle(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)))
		if got := rec.Body.String(); got != want {
			t.Errorf("Handle(%q) = %q, want %q", body, got, want)
		}
	}
}
