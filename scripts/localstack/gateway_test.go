package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// seen is what the fake function received, as it answers it.
type seen struct {
	Method, Path, RawPath, Query, Body string
	Header                             http.Header
}

// fakeFunction answers each call with what it received, as JSON, with
// status 201 and a header of its own; /stream is an SSE stream whose second
// event waits for release.
func fakeFunction(t *testing.T, release <-chan struct{}) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: one\n\n")
			w.(http.Flusher).Flush()
			<-release
			io.WriteString(w, "data: two\n\n")
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Function", "yes")
		w.Header()["Content-Type"] = nil // none, not sniffed
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(seen{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, string(body), r.Header})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// testGateway serves echo (backed by fn) and idle (not built yet).
func testGateway(t *testing.T, fn *httptest.Server) (*httptest.Server, *service) {
	u, err := url.Parse(fn.URL)
	if err != nil {
		t.Fatal(err)
	}
	echo := &service{fn: &function{Name: "echo", Image: "echo:latest", Labels: map[string]string{"team": "a"}}}
	echo.current.Store(&instance{url: u, started: time.Unix(1700000000, 0)})
	idle := &service{fn: &function{Name: "idle", Image: "idle:latest"}}
	gw := httptest.NewServer(newGateway([]*service{echo, idle}))
	t.Cleanup(gw.Close)
	return gw, echo
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestInvoke: the call reaches the function as the gateway passes it, and
// the answer comes back as the function gave it.
func TestInvoke(t *testing.T) {
	gw, echo := testGateway(t, fakeFunction(t, nil))
	host := strings.TrimPrefix(gw.URL, "http://")
	for _, tc := range []struct {
		name, method, path, callID, ct string
		wantPath, wantRaw, wantQ       string
		wantCT                         string // the answer's Content-Type
	}{
		{"root", "POST", "/function/echo", "", "", "/", "", "", "text/plain"},
		{"sub-path and query", "PUT", "/function/echo/a/b?x=1&y=%20", "", "", "/a/b", "", "x=1&y=%20", "text/plain"},
		{"namespace suffix", "GET", "/function/echo.openfaas-fn/x", "", "", "/x", "", "", "text/plain"},
		{"escaped slash kept", "DELETE", "/function/echo/a%2Fb", "", "", "/a/b", "/a%2Fb", "", "text/plain"},
		{"call id kept, request's Content-Type", "PATCH", "/function/echo/", "abc-123", "application/json", "/", "", "", "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, gw.URL+tc.path, strings.NewReader("body of "+tc.name))
			if tc.callID != "" {
				req.Header.Set("X-Call-Id", tc.callID)
			}
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var got seen
			if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusCreated || res.Header.Get("X-Function") != "yes" {
				t.Errorf("status %d, X-Function %q: want the function's 201 and header", res.StatusCode, res.Header.Get("X-Function"))
			}
			if ct := res.Header.Get("Content-Type"); ct != tc.wantCT {
				t.Errorf("Content-Type %q, want %q: the function set none", ct, tc.wantCT)
			}
			if got.Method != tc.method || got.Path != tc.wantPath || got.RawPath != tc.wantRaw || got.Query != tc.wantQ || got.Body != "body of "+tc.name {
				t.Errorf("function saw %s %q (raw %q) ?%q %q; want %s %q (raw %q) ?%q", got.Method, got.Path, got.RawPath, got.Query, got.Body, tc.method, tc.wantPath, tc.wantRaw, tc.wantQ)
			}
			id := got.Header.Get("X-Call-Id")
			if tc.callID != "" && id != tc.callID || tc.callID == "" && !uuidV4.MatchString(id) {
				t.Errorf("function saw X-Call-Id %q; want %q kept, or a new v4 UUID", id, tc.callID)
			}
			if res.Header.Get("X-Call-Id") != id {
				t.Errorf("answer's X-Call-Id %q, want the function's %q", res.Header.Get("X-Call-Id"), id)
			}
			if st := got.Header.Get("X-Start-Time"); st == "" || st != res.Header.Get("X-Start-Time") {
				t.Errorf("X-Start-Time: function saw %q, answer has %q", st, res.Header.Get("X-Start-Time"))
			}
			if got.Header.Get("X-Forwarded-For") != "127.0.0.1" || got.Header.Get("X-Forwarded-Host") != host {
				t.Errorf("X-Forwarded-For %q, X-Forwarded-Host %q; want 127.0.0.1 and %s", got.Header.Get("X-Forwarded-For"), got.Header.Get("X-Forwarded-Host"), host)
			}
		})
	}
	if n := echo.invocations.Load(); n != 5 {
		t.Errorf("invocations %d, want 5", n)
	}
}

// TestInvokeErrors: the gateway's own answers.
func TestInvokeErrors(t *testing.T) {
	gw, _ := testGateway(t, fakeFunction(t, nil))
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
		internal     bool
	}{
		{"GET", "/function/nope", 404, "error finding function nope: not found in this stack (it serves: echo, idle)", false},
		{"GET", "/function/idle/x", 503, "No endpoints available for: idle.", true},
		{"GET", "/function/", 400, "Provide function name in the request path", true},
		{"PROPFIND", "/function/echo", 405, "", false},
		{"GET", "/system/nothing", 404, "404 page not found", false},
		{"POST", "/system/functions", 405, "", false},
		{"GET", "/system/functions?namespace=other", 400, `namespace "other": this local stack has only "openfaas-fn"`, false},
		{"GET", "/healthz", 200, "OK", false},
	} {
		req, _ := http.NewRequest(tc.method, gw.URL+tc.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.code || strings.TrimSpace(string(body)) != tc.body || (res.Header.Get("X-OpenFaaS-Internal") == "proxy") != tc.internal {
			t.Errorf("%s %s: %d %q (X-OpenFaaS-Internal %q); want %d %q (internal %v)", tc.method, tc.path, res.StatusCode, body, res.Header.Get("X-OpenFaaS-Internal"), tc.code, tc.body, tc.internal)
		}
	}
}

// TestInvokeUnreachable: a process that has gone answers 502, marked as the
// gateway's.
func TestInvokeUnreachable(t *testing.T) {
	fn := fakeFunction(t, nil)
	gw, _ := testGateway(t, fn)
	fn.Close()
	res, err := http.Get(gw.URL + "/function/echo")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway || strings.TrimSpace(string(body)) != "Can't reach service for: echo." || res.Header.Get("X-OpenFaaS-Internal") != "proxy" {
		t.Errorf("%d %q, want 502 Can't reach service for: echo.", res.StatusCode, body)
	}
}

// TestInvokeStreams: an SSE event reaches the caller while the function is
// still writing the stream.
func TestInvokeStreams(t *testing.T) {
	release := make(chan struct{})
	gw, _ := testGateway(t, fakeFunction(t, release))
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	// A stream held back until its end fails at this deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", gw.URL+"/function/echo/stream", nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q, want the function's text/event-stream", ct)
	}
	r := bufio.NewReader(res.Body)
	first, err := r.ReadString('\n')
	if err != nil || first != "data: one\n" {
		t.Fatalf("first line %q, %v; want the first event before the stream ends", first, err)
	}
	close(release)
	rest, _ := io.ReadAll(r)
	if string(rest) != "\ndata: two\n\n" {
		t.Errorf("rest of the stream %q", rest)
	}
}

// TestSystemFunctionsAsFaasCLIReadsIt makes faas-cli list's request (GET
// /system/functions, its User-Agent, no body) and decodes the answer into
// the fields of faas-provider's types.FunctionStatus that faas-cli list
// prints.
func TestSystemFunctionsAsFaasCLIReadsIt(t *testing.T) {
	gw, _ := testGateway(t, fakeFunction(t, nil))
	http.Post(gw.URL+"/function/echo", "text/plain", strings.NewReader("x"))
	for _, query := range []string{"", "?namespace=openfaas-fn"} {
		req, _ := http.NewRequest(http.MethodGet, gw.URL+"/system/functions"+query, nil)
		req.Header.Set("User-Agent", "faas-cli/0.17.0")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var list []struct {
			Name              string             `json:"name"`
			Image             string             `json:"image"`
			Namespace         string             `json:"namespace"`
			Labels            *map[string]string `json:"labels"`
			InvocationCount   float64            `json:"invocationCount"`
			Replicas          uint64             `json:"replicas"`
			AvailableReplicas uint64             `json:"availableReplicas"`
			CreatedAt         time.Time          `json:"createdAt"`
		}
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d, Content-Type %q; faas-cli list wants 200 and JSON", res.StatusCode, res.Header.Get("Content-Type"))
		}
		if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
			t.Fatalf("faas-cli list could not parse the answer: %v", err)
		}
		res.Body.Close()
		if len(list) != 2 {
			t.Fatalf("%d functions, want echo and idle: %+v", len(list), list)
		}
		echo, idle := list[0], list[1]
		if echo.Name != "echo" || echo.Image != "echo:latest" || echo.Namespace != "openfaas-fn" || echo.InvocationCount != 1 ||
			echo.Replicas != 1 || echo.AvailableReplicas != 1 || !echo.CreatedAt.Equal(time.Unix(1700000000, 0)) || echo.Labels == nil || (*echo.Labels)["team"] != "a" {
			t.Errorf("echo listed as %+v", echo)
		}
		if idle.Name != "idle" || idle.Replicas != 0 || idle.AvailableReplicas != 0 {
			t.Errorf("idle (not built) listed as %+v, want 0 replicas", idle)
		}
	}
}
