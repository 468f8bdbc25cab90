package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/inproc-go/templates/watchdog"
)

// testIssuer is an OpenID issuer on 127.0.0.1: discovery, a JWKS whose keys
// the test can rotate, and a token signer.
type testIssuer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	keys map[string]any // kid -> private key published in the JWKS
}

func newTestIssuer(t *testing.T) *testIssuer {
	iss := &testIssuer{keys: map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": iss.srv.URL, "jwks_uri": iss.srv.URL + "/.well-known/jwks.json"})
	})
	mux.HandleFunc("/.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		store := jwkset.NewMemoryStorage()
		iss.mu.Lock()
		for kid, key := range iss.keys {
			jwk, err := jwkset.NewJWKFromKey(publicOf(key), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid}})
			if err != nil {
				t.Errorf("jwk: %v", err)
			}
			store.KeyWrite(r.Context(), jwk)
		}
		iss.mu.Unlock()
		raw, _ := store.JSONPublic(r.Context())
		w.Write(raw)
	})
	iss.srv = httptest.NewServer(mux)
	t.Cleanup(iss.srv.Close)
	return iss
}

func publicOf(key any) any {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return &k.PublicKey
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	}
	panic("unknown key type")
}

func (iss *testIssuer) publish(kid string, key any) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.keys[kid] = key
}

// token signs claims with key under kid ("" leaves kid out).
func token(t *testing.T, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	method := jwt.SigningMethod(jwt.SigningMethodRS256)
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		method = jwt.SigningMethodES256
	}
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims are valid for the function "openfaas-fn:echo" unless edited.
func (iss *testIssuer) claims(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": iss.srv.URL,
		"aud": []string{iss.srv.URL},
		"sub": "fn-caller",
		"exp": time.Now().Add(time.Minute).Unix(),
		"nbf": time.Now().Add(-time.Minute).Unix(),
		"function": map[string]any{
			"permissions": []string{"openfaas-fn:echo"},
			"audience":    []string{"openfaas-fn:echo"},
		},
	}
	if edit != nil {
		edit(c)
	}
	return c
}

// startAuthServer serves a handler that echoes the Authorization header it
// saw, behind jwt_auth with iss as the issuer.
func startAuthServer(t *testing.T, iss *testIssuer, env ...string) (string, error) {
	t.Helper()
	cfg, err := watchdog.ConfigFromEnv(append([]string{"jwt_auth=true", "OPENFAAS_NAME=echo", "OPENFAAS_NAMESPACE=openfaas-fn", "healthcheck_interval=1ms"}, env...))
	if err != nil {
		t.Fatal(err)
	}
	cfg.JWTIssuer = iss.srv.URL
	cfg.LockFile = filepath.Join(t.TempDir(), ".lock")
	fn, _ := net.Listen("tcp", "127.0.0.1:0")
	metrics, _ := net.Listen("tcp", "127.0.0.1:0")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(300 * time.Millisecond)
		}
		io.WriteString(w, r.Header.Get("Authorization"))
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- watchdog.Serve(ctx, h, watchdog.WithConfig(cfg), watchdog.WithListeners(fn, metrics),
			watchdog.WithAuth(New), watchdog.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	}()
	t.Cleanup(func() { cancel(); <-done })
	url := "http://" + fn.Addr().String()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			done <- err // for the cleanup
			return "", err
		default:
		}
		if res, err := http.Get(url + "/_/health"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return url, nil
			}
		}
	}
	t.Fatal("jwt server not healthy within 5s")
	return "", nil
}

func invokeWithToken(t *testing.T, url, bearer string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header
}

func TestJWTAuth(t *testing.T) {
	iss := newTestIssuer(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	iss.publish("rsa-1", rsaKey)
	iss.publish("ec-1", ecKey)
	url, err := startAuthServer(t, iss)
	if err != nil {
		t.Fatal(err)
	}

	valid := token(t, "rsa-1", rsaKey, iss.claims(nil))
	tests := []struct {
		name       string
		auth       string
		wantStatus int
		wantBody   string
	}{
		{"valid RSA token reaches the handler with Authorization intact", "Bearer " + valid, 200, "Bearer " + valid},
		{"valid ECDSA token", "Bearer " + token(t, "ec-1", ecKey, iss.claims(nil)), 200, ""},
		{"no token", "", 401, "Bearer must be present in Authorization header"},
		{"not a bearer token", "Basic dXNlcjpwYXNz", 401, "Bearer must be present"},
		{"malformed", "Bearer not.a.jwt", 401, "failed to parse JWT token"},
		{"wrong signature", "Bearer " + token(t, "rsa-1", otherKey, iss.claims(nil)), 401, "signature is invalid"},
		{"no kid", "Bearer " + token(t, "", rsaKey, iss.claims(nil)), 401, "invalid kid"},
		{"expired", "Bearer " + token(t, "rsa-1", rsaKey, iss.claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() })), 401, "token is expired"},
		{"no expiry", "Bearer " + token(t, "rsa-1", rsaKey, iss.claims(func(c jwt.MapClaims) { delete(c, "exp") })), 401, "exp claim is required"},
		{"not yet valid", "Bearer " + token(t, "rsa-1", rsaKey, iss.claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Minute).Unix() })), 401, "token is not valid yet"},
		{"wrong issuer", "Bearer " + token(t, "rsa-1", rsaKey, iss.claims(func(c jwt.MapClaims) { c["iss"] = "http://evil.example" })), 401, "token has invalid issuer"},
		{"wrong audience", "Bearer " + token(t, "rsa-1", rsaKey, iss.claims(func(c jwt.MapClaims) { c["aud"] = []string{"someone-else"} })), 401, "token has invalid audience"},
		{"no function claim", "Bearer " + token(t, "rsa-1", rsaKey, iss.claims(func(c jwt.MapClaims) { delete(c, "function") })), 403, "insufficient permissions"},
		{"permission for another function", "Bearer " + token(t, "rsa-1", rsaKey, iss.claims(func(c jwt.MapClaims) {
			c["function"] = map[string]any{"permissions": []string{"openfaas-fn:other"}}
		})), 403, "insufficient permissions"},
		{"wildcard permission, no audience", "Bearer " + token(t, "rsa-1", rsaKey, iss.claims(func(c jwt.MapClaims) {
			c["function"] = map[string]any{"permissions": []string{"openfaas-fn:*"}}
		})), 200, ""},
		{"star permission, non-matching audience", "Bearer " + token(t, "rsa-1", rsaKey, iss.claims(func(c jwt.MapClaims) {
			c["function"] = map[string]any{"permissions": []string{"*"}, "audience": []string{"staging:*"}}
		})), 403, "insufficient permissions"},
		{"wildcard in the middle", "Bearer " + token(t, "rsa-1", rsaKey, iss.claims(func(c jwt.MapClaims) {
			c["function"] = map[string]any{"permissions": []string{"openfaas-*:e*o"}, "audience": []string{"*:echo"}}
		})), 200, ""},
		{"regexp characters are literal", "Bearer " + token(t, "rsa-1", rsaKey, iss.claims(func(c jwt.MapClaims) {
			c["function"] = map[string]any{"permissions": []string{"openfaas.fn:echo"}}
		})), 403, "insufficient permissions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, header := invokeWithToken(t, url+"/", tt.auth)
			if status != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("got %d %q, want %d containing %q", status, body, tt.wantStatus, tt.wantBody)
			}
			if status == 200 {
				return
			}
			if header.Get("X-OpenFaaS-Internal") != "faas-middleware" {
				t.Errorf("X-OpenFaaS-Internal = %q, want faas-middleware", header.Get("X-OpenFaaS-Internal"))
			}
			if got := header.Get("WWW-Authenticate"); status == 401 && got != "Bearer realm=IAM function invoke" {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
	}

	t.Run("probes need no token", func(t *testing.T) {
		for _, path := range []string{"/_/health", "/_/ready"} {
			if status, _, _ := invokeWithToken(t, url+path, ""); status == 401 {
				t.Errorf("%s answered 401 without a token", path)
			}
		}
	})

	t.Run("a rotated key is fetched on its first use", func(t *testing.T) {
		newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		iss.publish("rotated", newKey)
		if status, body, _ := invokeWithToken(t, url+"/", "Bearer "+token(t, "rotated", newKey, iss.claims(nil))); status != 200 {
			t.Fatalf("token under the new kid: %d %q, want 200", status, body)
		}
		// Unknown kids refresh at most every 10s, and never hold the call.
		start := time.Now()
		if status, _, _ := invokeWithToken(t, url+"/", "Bearer "+token(t, "never-published", newKey, iss.claims(nil))); status != 401 {
			t.Errorf("unknown kid: %d, want 401", status)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("an unknown kid held the call for %s", took)
		}
	})
}

func TestJWTAuthBehindTheLimiter(t *testing.T) {
	iss := newTestIssuer(t)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	iss.publish("k", key)
	url, err := startAuthServer(t, iss, "max_inflight=1")
	if err != nil {
		t.Fatal(err)
	}
	slow := make(chan int)
	go func() {
		status, _, _ := invokeWithToken(t, url+"/slow", "Bearer "+token(t, "k", key, iss.claims(nil)))
		slow <- status
	}()
	time.Sleep(100 * time.Millisecond)
	if status, _, _ := invokeWithToken(t, url+"/", ""); status != http.StatusTooManyRequests {
		t.Errorf("a full function answered %d to a call without a token, want 429 first", status)
	}
	if status := <-slow; status != 200 {
		t.Errorf("slow authorised call: %d", status)
	}
}

func TestJWTAuthStartFailures(t *testing.T) {
	iss := newTestIssuer(t)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	tests := []struct {
		name    string
		issuer  string
		env     []string
		wantErr string
	}{
		{"no function name", iss.srv.URL, []string{"OPENFAAS_NAME="}, "OPENFAAS_NAME is not set"},
		{"issuer down", down.URL, nil, down.URL + "/.well-known/openid-configuration"},
		{"no discovery document", iss.srv.URL + "/nothing-here", nil, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := watchdog.ConfigFromEnv(append([]string{"jwt_auth=true", "OPENFAAS_NAME=echo", "OPENFAAS_NAMESPACE=fn"}, tt.env...))
			if err != nil {
				t.Fatal(err)
			}
			cfg.JWTIssuer = tt.issuer
			cfg.LockFile = filepath.Join(t.TempDir(), ".lock")
			fn, _ := net.Listen("tcp", "127.0.0.1:0")
			metrics, _ := net.Listen("tcp", "127.0.0.1:0")
			defer fn.Close()
			defer metrics.Close()
			err = watchdog.Serve(context.Background(), http.NotFoundHandler(), watchdog.WithConfig(cfg), watchdog.WithListeners(fn, metrics),
				watchdog.WithAuth(New), watchdog.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Serve error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
