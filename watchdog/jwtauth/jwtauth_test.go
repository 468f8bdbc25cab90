package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// testIssuer is an OpenID issuer on 127.0.0.1: discovery, a JWKS whose keys
// the test can rotate, and a token signer.
type testIssuer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	keys   map[string]any      // kid -> private key published in the JWKS
	agents map[string][]string // path -> User-Agent of each request
	hold   chan struct{}       // non-nil: key-set requests wait until it is closed
	// fetching has a value for each key-set request, as it arrives
	fetching chan struct{}
}

func newTestIssuer(t *testing.T) *testIssuer {
	iss := &testIssuer{keys: map[string]any{}, agents: map[string][]string{}, fetching: make(chan struct{}, 100)}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		iss.agents[r.URL.Path] = append(iss.agents[r.URL.Path], r.UserAgent())
		iss.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]string{"issuer": iss.srv.URL, "jwks_uri": iss.srv.URL + "/.well-known/jwks.json"})
	})
	mux.HandleFunc("/.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		iss.agents[r.URL.Path] = append(iss.agents[r.URL.Path], r.UserAgent())
		hold := iss.hold
		iss.mu.Unlock()
		iss.fetching <- struct{}{}
		if hold != nil {
			<-hold
		}
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

// holdKeySet makes key-set requests wait until the returned func is called.
func (iss *testIssuer) holdKeySet(t *testing.T) (release func()) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	hold := make(chan struct{})
	iss.hold = hold
	var once sync.Once
	release = func() {
		once.Do(func() {
			iss.mu.Lock()
			iss.hold = nil
			iss.mu.Unlock()
			close(hold)
		})
	}
	t.Cleanup(release)
	return release
}

// drainFetching forgets the key-set requests seen so far.
func (iss *testIssuer) drainFetching() {
	for {
		select {
		case <-iss.fetching:
		default:
			return
		}
	}
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

// echoAuthorization answers with the Authorization header it saw.
var echoAuthorization = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, r.Header.Get("Authorization"))
})

// startAuthServer serves a handler that echoes the Authorization header it
// saw, behind jwt_auth with iss as the issuer.
func startAuthServer(t *testing.T, iss *testIssuer, env ...string) (string, error) {
	t.Helper()
	return startAuthServerWith(t, iss, echoAuthorization, env...)
}

// startAuthServerWith serves h behind jwt_auth with iss as the issuer.
func startAuthServerWith(t *testing.T, iss *testIssuer, h http.Handler, env ...string) (string, error) {
	t.Helper()
	cfg, err := watchdog.ConfigFromEnv(append([]string{"jwt_auth=true", "OPENFAAS_NAME=echo", "OPENFAAS_NAMESPACE=openfaas-fn", "healthcheck_interval=1ms"}, env...))
	if err != nil {
		t.Fatal(err)
	}
	cfg.JWTIssuer = iss.srv.URL
	cfg.LockFile = filepath.Join(t.TempDir(), ".lock")
	fn, metrics := testkit.Listen(t), testkit.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- watchdog.Serve(ctx, h, watchdog.WithConfig(cfg), watchdog.WithListeners(fn, metrics),
			watchdog.WithAuth(New), watchdog.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	}()
	t.Cleanup(func() { cancel(); <-done })
	url := "http://" + fn.Addr().String()
	err = testkit.WaitHealthy(url, 5*time.Second, func() error {
		select {
		case err := <-done:
			done <- err // for the cleanup
			return err
		default:
			return nil
		}
	})
	if errors.Is(err, testkit.ErrNotHealthy) {
		t.Fatal("jwt server not healthy within 5s")
	}
	if err != nil {
		return "", err
	}
	return url, nil
}

func invokeWithToken(t *testing.T, url, bearer string) (int, string, http.Header) {
	t.Helper()
	status, body, header, err := invoke(url, bearer)
	if err != nil {
		t.Fatal(err)
	}
	return status, body, header
}

// invoke is invokeWithToken for goroutines other than the test's.
func invoke(url, bearer string) (int, string, http.Header, error) {
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header, err
}

// waitStatus calls url with bearer until it answers want, for up to 20s.
func waitStatus(t *testing.T, url, bearer string, want int) {
	t.Helper()
	var status int
	var body string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if status, body, _ = invokeWithToken(t, url, bearer); status == want {
			return
		}
	}
	t.Fatalf("still %d %q after 20s, want %d", status, body, want)
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
			res, err := http.Get(url + path) // probes are GETs
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("GET %s without a token = %d, want 200", path, res.StatusCode)
			}
		}
	})

	t.Run("a rotated key is fetched after its first use", func(t *testing.T) {
		newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		iss.publish("rotated", newKey)
		bearer := "Bearer " + token(t, "rotated", newKey, iss.claims(nil))
		if status, body, _ := invokeWithToken(t, url+"/", bearer); status != 401 || !strings.Contains(body, "key not found") {
			t.Errorf("first call under the new kid: %d %q, want 401 at once (key not found), the refresh in the background", status, body)
		}
		waitStatus(t, url+"/", bearer, 200)
	})
}

// A refresh for an unknown kid never holds the call: while the issuer sits
// on the key-set request, the call is answered 401; once the issuer
// answers that same request, calls under the new key get 200.
func TestKeyRefreshDoesNotHoldTheCall(t *testing.T) {
	iss := newTestIssuer(t)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	iss.publish("k1", key)
	url, err := startAuthServer(t, iss)
	if err != nil {
		t.Fatal(err)
	}
	iss.drainFetching() // the start's fetch
	release := iss.holdKeySet(t)
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	iss.publish("k2", newKey)
	bearer := "Bearer " + token(t, "k2", newKey, iss.claims(nil))

	type answer struct {
		status int
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		status, _, _, err := invoke(url+"/", bearer)
		answered <- answer{status, err}
	}()
	select {
	case <-iss.fetching:
	case <-time.After(10 * time.Second):
		t.Fatal("no key-set request after a call under an unknown kid")
	}
	select {
	case a := <-answered:
		if a.err != nil || a.status != 401 {
			t.Errorf("call under the unknown kid: %d, %v; want 401", a.status, a.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call is held while the issuer sits on the key-set request")
	}
	release()
	waitStatus(t, url+"/", bearer, 200)
	// The held request brought the key: the refresh outlived the call
	// rather than being given up with it.
	if n := len(iss.fetching); n != 0 {
		t.Errorf("%d more key-set request(s) before the new key worked: the held one was given up", n)
	}
}

// Discovery and the key set are both fetched as "openfaas-watchdog", as
// of-watchdog does.
func TestIssuerRequestsUserAgent(t *testing.T) {
	iss := newTestIssuer(t)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	iss.publish("k", key)
	if _, err := startAuthServer(t, iss); err != nil {
		t.Fatal(err)
	}
	iss.mu.Lock()
	defer iss.mu.Unlock()
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json"} {
		agents := iss.agents[path]
		if len(agents) == 0 {
			t.Errorf("no request for %s", path)
		}
		for _, ua := range agents {
			if ua != "openfaas-watchdog" {
				t.Errorf("%s fetched with User-Agent %q, want openfaas-watchdog", path, ua)
			}
		}
	}
}

func TestJWTAuthBehindTheLimiter(t *testing.T) {
	iss := newTestIssuer(t)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	iss.publish("k", key)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	url, err := startAuthServerWith(t, iss, h, "max_inflight=1")
	if err != nil {
		t.Fatal(err)
	}
	slow := make(chan error, 1)
	go func() {
		status, _, _, err := invoke(url+"/", "Bearer "+token(t, "k", key, iss.claims(nil)))
		if err == nil && status != 200 {
			err = fmt.Errorf("status %d, want 200", status)
		}
		slow <- err
	}()
	select {
	case <-entered: // the authorised call holds the only slot
	case <-time.After(10 * time.Second):
		t.Fatal("the authorised call did not reach the handler")
	}
	if status, _, _ := invokeWithToken(t, url+"/", ""); status != http.StatusTooManyRequests {
		t.Errorf("a full function answered %d to a call without a token, want 429 first", status)
	}
	open()
	if err := <-slow; err != nil {
		t.Errorf("authorised call: %v", err)
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
			fn, metrics := testkit.Listen(t), testkit.Listen(t)
			err = watchdog.Serve(context.Background(), http.NotFoundHandler(), watchdog.WithConfig(cfg), watchdog.WithListeners(fn, metrics),
				watchdog.WithAuth(New), watchdog.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Serve error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
