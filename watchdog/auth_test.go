package watchdog

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestConfigJWTIssuer(t *testing.T) {
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"jwt_auth=true"}, "http://gateway.openfaas:8080"},
		{[]string{"jwt_auth=true", "jwt_auth_local=true"}, "http://127.0.0.1:8000"},
	} {
		cfg, err := ConfigFromEnv(tt.env)
		if err != nil || !cfg.JWTAuth || cfg.JWTIssuer != tt.want {
			t.Errorf("%v: issuer %q, auth %v, err %v; want %q", tt.env, cfg.JWTIssuer, cfg.JWTAuth, err, tt.want)
		}
	}
}

// jwt_auth without an Authenticator must refuse to start, never serve
// unprotected.
func TestJWTAuthWithoutAuthenticatorIsRefused(t *testing.T) {
	_, err := New(http.NotFoundHandler(), WithEnv([]string{"jwt_auth=true"}))
	if err == nil || !strings.Contains(err.Error(), "-tags=jwt") {
		t.Fatalf("New error %v, want one saying how to build with JWT support", err)
	}
}

type recordingAuth struct{}

func (a *recordingAuth) Start(context.Context) error { return nil }
func (a *recordingAuth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "let me in" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func TestAuthenticatorGuardsOnlyTheFunctionRoute(t *testing.T) {
	auth := &recordingAuth{}
	s, err := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("fn")) }),
		WithEnv([]string{"jwt_auth=true"}),
		WithAuth(func(Config, *slog.Logger) Authenticator { return auth }))
	if err != nil {
		t.Fatal(err)
	}
	s.health.accepting.Store(true)
	s.health.lockFile = ""
	for _, tt := range []struct {
		path, auth string
		want       int
	}{
		{"/", "", http.StatusUnauthorized},
		{"/", "let me in", http.StatusOK},
		{"/_/health", "", http.StatusOK},
		{"/_/ready", "", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, tt.path, nil)
		req.Header.Set("Authorization", tt.auth)
		rec := httptest.NewRecorder()
		s.fnServer.Handler.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("%s with %q: %d, want %d", tt.path, tt.auth, rec.Code, tt.want)
		}
	}
}
