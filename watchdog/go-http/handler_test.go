package handler

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

func TestHandlerFunc(t *testing.T) {
	tests := []struct {
		name     string
		res      Response
		err      error
		code     int
		header   http.Header
		wantBody string
	}{
		{"zero status is 200", Response{Body: []byte("hi")}, nil, 200, nil, "hi"},
		{"status kept", Response{StatusCode: http.StatusCreated, Body: []byte("made")}, nil, 201, nil, "made"},
		{"no body", Response{StatusCode: http.StatusNoContent}, nil, 204, nil, ""},
		{"headers copied", Response{Header: http.Header{"X-A": {"1", "2"}, "Content-Type": {"application/json"}}, Body: []byte("{}")}, nil,
			200, http.Header{"X-A": {"1", "2"}, "Content-Type": {"application/json"}}, "{}"},
		{"error is 500 with headers and body", Response{StatusCode: 418, Header: http.Header{"X-B": {"b"}}, Body: []byte("partial")}, errors.New("db down"),
			500, http.Header{"X-B": {"b"}}, "partial"},
		{"error with zero response", Response{}, errors.New("oops"), 500, nil, ""},
		{"invalid status is 500", Response{StatusCode: 42, Body: []byte("x")}, nil, 500, nil, "x"},
		{"a 1xx is no answer: 500", Response{StatusCode: 103, Body: []byte("x")}, nil, 500, nil, "x"},
		{"status over 999 is 500", Response{StatusCode: 1000}, nil, 500, nil, ""},
		{"negative status is 500", Response{StatusCode: -1}, nil, 500, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := HandlerFunc(func(Request) (Response, error) { return tt.res, tt.err })
			rec := httptest.NewRecorder()
			f.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader("in")))
			if rec.Code != tt.code || rec.Body.String() != tt.wantBody {
				t.Errorf("= %d %q, want %d %q", rec.Code, rec.Body, tt.code, tt.wantBody)
			}
			for k, v := range tt.header {
				if got := rec.Header()[k]; strings.Join(got, ",") != strings.Join(v, ",") {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestRequestFields(t *testing.T) {
	var got Request
	f := HandlerFunc(func(req Request) (Response, error) {
		got = req
		return Response{}, nil
	})
	r := httptest.NewRequest("PUT", "http://fn.example:8080/orders/7?id=3&x=y", strings.NewReader("payload"))
	r.Header.Set("X-Custom", "c")
	ctx := context.WithValue(r.Context(), struct{}{}, "marker")
	f.ServeHTTP(httptest.NewRecorder(), r.WithContext(ctx))

	if string(got.Body) != "payload" || got.Method != "PUT" || got.Path != "/orders/7" ||
		got.QueryString != "id=3&x=y" || got.Host != "fn.example:8080" || got.Header.Get("X-Custom") != "c" {
		t.Errorf("request = %+v", got)
	}
	if got.Context().Value(struct{}{}) != "marker" {
		t.Error("the request's context is not the call's")
	}

	var zero Request
	if zero.Context() != context.Background() {
		t.Error("a zero Request's context is not Background")
	}
	zero.WithContext(ctx)
	if zero.Context() != ctx {
		t.Error("WithContext did not set the context")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("WithContext(nil) did not panic")
			}
		}()
		zero.WithContext(nil) //nolint:staticcheck // the nil is the point
	}()
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestBodyErrors(t *testing.T) {
	var called bool
	f := HandlerFunc(func(Request) (Response, error) { called = true; return Response{}, nil })

	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest("POST", "/", failingReader{}))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "connection reset") {
		t.Errorf("failing body = %d %q, want 400", rec.Code, rec.Body)
	}

	rec = httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/", nil)
	r.Body = http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(strings.Repeat("a", 100))), 10)
	f.ServeHTTP(rec, r)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("over max bytes = %d %q, want 413", rec.Code, rec.Body)
	}
	if called {
		t.Error("the function was called without its body")
	}
}

func TestReadBody(t *testing.T) {
	big := strings.Repeat("b", maxPresize+10)
	tests := []struct {
		name     string
		body     string
		declared int64
		want     string
		wantErr  bool
	}{
		{"declared", "hello", 5, "hello", false},
		{"unknown length (chunked)", "hello", -1, "hello", false},
		{"declared empty", "", 0, "", false},
		{"shorter than declared", "hel", 5, "", true},
		{"declared over the presize bound", big, int64(len(big)), big, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", io.NopCloser(strings.NewReader(tt.body)))
			r.ContentLength = tt.declared
			got, err := readBody(r)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && string(got) != tt.want {
				t.Errorf("body of %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
}

// max_body_bytes through the whole chain: a declared oversized body is
// refused before the function runs, a chunked one when the adapter reads it.
func TestMaxBodyBytesThroughWatchdog(t *testing.T) {
	const limit = 64
	var calls atomic.Int32
	var callID, deadline atomic.Value
	f := HandlerFunc(func(req Request) (Response, error) {
		calls.Add(1)
		callID.Store(watchdog.CallID(req.Context()))
		_, ok := req.Context().Deadline()
		deadline.Store(ok)
		return Response{Body: req.Body}, nil
	})
	url := watchdogtest.New(t, f, "max_body_bytes="+strconv.Itoa(limit)).URL

	tests := []struct {
		name  string
		body  io.Reader
		code  int
		calls int32
	}{
		{"under", strings.NewReader("small"), 200, 1},
		{"declared over", strings.NewReader(strings.Repeat("x", limit+1)), 413, 0},
		{"chunked under", io.MultiReader(strings.NewReader("chunked small")), 200, 1},
		{"chunked over", io.MultiReader(strings.NewReader(strings.Repeat("y", 10*limit))), 413, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls.Store(0)
			req, _ := http.NewRequest("POST", url+"/", tt.body)
			req.Header.Set("X-Call-Id", "call-"+tt.name)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.code {
				t.Errorf("= %d %q, want %d", res.StatusCode, b, tt.code)
			}
			if tt.code == 413 && !strings.Contains(string(b), "limit") && !strings.Contains(string(b), "too large") {
				t.Errorf("413 body %q", b)
			}
			if calls.Load() != tt.calls {
				t.Errorf("function called %d times, want %d", calls.Load(), tt.calls)
			}
			if tt.calls == 1 {
				if callID.Load() != "call-"+tt.name || deadline.Load() != true {
					t.Errorf("the function's context: call id %v, deadline %v", callID.Load(), deadline.Load())
				}
			}
		})
	}
}

// FuzzHandlerFunc: whatever the function returns, the adapter answers
// without panicking: status 0 is 200, an error 500, headers copied, the
// body written.
func FuzzHandlerFunc(f *testing.F) {
	f.Add([]byte("hello"), "X-Test", "v", 0, "GET", false)
	f.Add([]byte(""), "Content-Type", "application/json", 201, "POST", false)
	f.Add([]byte("oops"), "X-Err", "1", 404, "DELETE", true)
	f.Add([]byte{0, 1, 2}, "", "", 42, "BREW", false)
	f.Add([]byte("big"), "x-lower", "a\r\nb", 1000, "", false)
	f.Add([]byte("neg"), "X", "", -200, "PATCH", false)
	f.Fuzz(func(t *testing.T, body []byte, key, value string, status int, method string, fail bool) {
		var fnErr error
		if fail {
			fnErr = errors.New("function failed")
		}
		var gotMethod string
		fn := HandlerFunc(func(req Request) (Response, error) {
			gotMethod = req.Method
			res := Response{Body: body, StatusCode: status}
			if key != "" {
				res.Header = http.Header{key: {value}}
			}
			return res, fnErr
		})
		r := httptest.NewRequest("POST", "/", strings.NewReader("in"))
		r.Method = method // any string, as a real server could not send but a caller might build
		rec := httptest.NewRecorder()
		fn.ServeHTTP(rec, r)

		want := status
		switch {
		case fail:
			want = 500
		case status == 0:
			want = 200
		case status < 200 || status > 999: // a 1xx is not an answer either
			want = 500
		}
		if rec.Code != want {
			t.Fatalf("status %d, error %v: answered %d, want %d", status, fnErr, rec.Code, want)
		}
		if gotMethod != method {
			t.Fatalf("method %q reached the function as %q", method, gotMethod)
		}
		if key != "" && strings.Join(rec.Header()[key], "") != value {
			t.Fatalf("header %q = %q, want %q", key, rec.Header()[key], value)
		}
		if rec.Body.String() != string(body) {
			t.Fatalf("body %q, want %q", rec.Body, body)
		}
	})
}

func TestMain(m *testing.M) {
	// The adapter logs errors through watchdog.Logger, which outside a call
	// is slog.Default: keep the fuzzer's thousands of them off stderr.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// BenchmarkHandlerFuncBody: the adapter reading bodies of common sizes with
// a declared Content-Length, as the gateway sends them.
func BenchmarkHandlerFuncBody(b *testing.B) {
	f := HandlerFunc(func(req Request) (Response, error) { return Response{Body: req.Body[:1]}, nil })
	for _, size := range []int{128, 16 << 10, 256 << 10} {
		payload := strings.Repeat("x", size)
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			b.ReportAllocs()
			body := strings.NewReader(payload)
			r := httptest.NewRequest("POST", "/", io.NopCloser(body))
			r.ContentLength = int64(size)
			w := httptest.NewRecorder()
			for b.Loop() {
				body.Reset(payload)
				f.ServeHTTP(w, r)
			}
		})
	}
}
