package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{"fprocess": "/home/app/handler -listen 127.0.0.1:8082", "upstream_url": "http://127.0.0.1:8082"}
	c, err := configFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(c.fprocess) != 3 || c.upstream.Host != "127.0.0.1:8082" || c.port != "8080" {
		t.Fatalf("got %+v", c)
	}
	for _, bad := range []map[string]string{
		{"upstream_url": "http://127.0.0.1:8082"},
		{"fprocess": "x", "upstream_url": "127.0.0.1:8082"},
		{"fprocess": "x"},
	} {
		if _, err := configFromEnv(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestProxyForwardsHealthAndLogs(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)

	lock := filepath.Join(t.TempDir(), ".lock")
	var logs bytes.Buffer
	p := newProxy(u, lock, log.New(&logs, "", 0))
	front := httptest.NewServer(p)
	defer front.Close()

	status := func() int {
		res, err := http.Get(front.URL + "/_/health")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := status(); got != http.StatusServiceUnavailable {
		t.Fatalf("health before start = %d, want 503", got)
	}
	p.healthy.Store(true)
	if got := status(); got != http.StatusServiceUnavailable {
		t.Fatalf("health without lock file = %d, want 503", got)
	}
	if err := os.WriteFile(lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != http.StatusOK {
		t.Fatalf("health = %d, want 200", got)
	}

	res, err := http.Post(front.URL+"/fn", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != "hello" {
		t.Fatalf("got %d %q, want 200 hello", res.StatusCode, body)
	}
	if line := logs.String(); !strings.Contains(line, "POST /fn - 200 OK - ContentLength: 5B") {
		t.Fatalf("access log = %q", line)
	}
}

func TestWaitUpstream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := waitUpstream(ctx, addr); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := waitUpstream(ctx2, addr); err == nil {
		t.Fatal("want an error once the listener is closed")
	}
}
