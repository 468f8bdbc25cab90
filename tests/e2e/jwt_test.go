package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/inproc-go/templates/tests/internal/container"
	"github.com/inproc-go/templates/tests/internal/freeport"
)

// TestJWTAuth builds a template with the jwt build tag and runs it with
// jwt_auth_local=true against an OpenID issuer on 127.0.0.1:8000, the
// address of-watchdog's jwt_auth_local uses (faas-cli local-run sets it).
// The container shares the host's network so it can reach the issuer.
func TestJWTAuth(t *testing.T) {
	requireE2E(t)
	const lang = "golang-middleware-inproc"
	image := "localhost/inproc-e2e/jwt-" + lang + ":latest"
	container.BuildFunction(t, container.Function{
		Lang: lang, Handler: filepath.Join("testdata", "probe", lang), Tag: image,
		BuildArgs: []string{"GOFLAGS=-tags=jwt"},
	})

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer := startIssuer(t, "127.0.0.1:8000", "e2e-key", key)
	sign := func(permissions ...string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"iss": issuer, "aud": []string{issuer},
			"exp":      time.Now().Add(time.Minute).Unix(),
			"function": map[string]any{"permissions": permissions},
		})
		tok.Header["kid"] = "e2e-key"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}

	_, url := runOnHostNetwork(t, image, "jwt_auth=true", "jwt_auth_local=true",
		"OPENFAAS_NAME=echo", "OPENFAAS_NAMESPACE=openfaas-fn")

	tests := []struct {
		name   string
		auth   string
		status int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"granted", sign("openfaas-fn:echo"), http.StatusOK},
		{"wildcard grant", sign("openfaas-fn:*"), http.StatusOK},
		{"another function's grant", sign("openfaas-fn:other"), http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := map[string]string{}
			if tt.auth != "" {
				headers["Authorization"] = tt.auth
			}
			res := do(t, http.MethodPost, url+"/", "hi", headers)
			if res.status != tt.status {
				t.Fatalf("got %d %q, want %d", res.status, res.body, tt.status)
			}
			if tt.status == http.StatusOK && res.body != "hi" {
				t.Errorf("body %q, want the echo", res.body)
			}
			if tt.status == http.StatusUnauthorized && res.Header.Get("WWW-Authenticate") != "Bearer realm=IAM function invoke" {
				t.Errorf("WWW-Authenticate = %q", res.Header.Get("WWW-Authenticate"))
			}
		})
	}
	expect(t, do(t, http.MethodGet, url+"/_/health", "", nil), http.StatusOK, "OK")
	expect(t, do(t, http.MethodGet, url+"/_/ready", "", nil), http.StatusOK, "")
}

// startIssuer serves OpenID discovery and a JWKS holding key's public half.
func startIssuer(t *testing.T, addr, kid string, key *ecdsa.PrivateKey) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the jwt_auth_local issuer needs %s: %v", addr, err)
	}
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid}})
	if err != nil {
		t.Fatal(err)
	}
	store := jwkset.NewMemoryStorage()
	if err := store.KeyWrite(t.Context(), jwk); err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + addr
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": issuer + "/.well-known/jwks.json"})
		case "/.well-known/jwks.json":
			raw, _ := store.JSONPublic(r.Context())
			_, _ = w.Write(raw)
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer
}

// waitHealthy polls url (the container shares the host network, so the
// harness' port mapping does not apply).
func waitHealthy(t *testing.T, c *container.Container, url string) {
	t.Helper()
	waitFor200(t, url, 30*time.Second, func() (bool, string) { return !c.Running(t), c.Logs() })
}

// runOnHostNetwork runs image on the host's network (so it reaches services
// on 127.0.0.1, as an issuer or a collector here) on two free ports, with
// env besides port and metrics_port, and waits for /_/health; it returns
// the container and the function's base URL.
func runOnHostNetwork(t *testing.T, image string, env ...string) (*container.Container, string) {
	t.Helper()
	ports, err := freeport.Get(2)
	if err != nil {
		t.Fatal(err)
	}
	env = append([]string{"port=" + strconv.Itoa(ports[0]), "metrics_port=" + strconv.Itoa(ports[1])}, env...)
	c := container.Run(t, image, container.NoWait(), container.Args("--network", "host"), container.Env(env...))
	url := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	waitHealthy(t, c, url+"/_/health")
	return c, url
}
