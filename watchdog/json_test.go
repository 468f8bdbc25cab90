package watchdog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type order struct {
	ID  string `json:"id"`
	Qty int    `json:"qty"`
}

type receipt struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

func priceOrder(ctx context.Context, o order) (receipt, error) {
	switch o.ID {
	case "missing":
		return receipt{}, StatusError(http.StatusNotFound, fmt.Errorf("order %q: no such order", o.ID))
	case "wrapped":
		return receipt{}, fmt.Errorf("pricing: %w", StatusError(http.StatusConflict, errors.New("price changed")))
	case "bad-status":
		return receipt{}, &Error{Status: 200, Err: errors.New("not an error status")}
	case "plain":
		return receipt{}, errors.New("db: connection reset")
	case "nil-err":
		return receipt{}, &Error{Status: http.StatusTeapot}
	}
	return receipt{ID: o.ID, Total: 3 * o.Qty}, nil
}

func TestJSON(t *testing.T) {
	lenient := JSON(priceOrder)
	strict := JSON(priceOrder, DisallowUnknownFields())
	const ct = "application/json"
	want415 := `{"error":"Content-Type \"%s\": want application/json (or a +json type)"}`
	tests := []struct {
		name        string
		h           http.Handler
		contentType string
		body        string
		code        int
		want        string
	}{
		{"ok", lenient, ct, `{"id":"a1","qty":2}`, 200, `{"id":"a1","total":6}`},
		{"charset", lenient, "application/json; charset=utf-8", `{"id":"a1","qty":1}`, 200, `{"id":"a1","total":3}`},
		{"case", lenient, "Application/JSON", `{"id":"a1","qty":1}`, 200, `{"id":"a1","total":3}`},
		{"+json", lenient, "application/vnd.shop.order+json", `{"id":"a1","qty":1}`, 200, `{"id":"a1","total":3}`},
		{"trailing newline", lenient, ct, "{\"id\":\"a1\",\"qty\":1}\n", 200, `{"id":"a1","total":3}`},
		{"unknown field ignored", lenient, ct, `{"id":"a1","qty":1,"colour":"red"}`, 200, `{"id":"a1","total":3}`},

		{"text/plain", lenient, "text/plain", `{}`, 415, fmt.Sprintf(want415, "text/plain")},
		{"form", lenient, "application/x-www-form-urlencoded", `a=b`, 415, fmt.Sprintf(want415, "application/x-www-form-urlencoded")},
		{"jsonx", lenient, "application/jsonx", `{}`, 415, fmt.Sprintf(want415, "application/jsonx")},
		{"bare +json", lenient, "+json", `{}`, 415, fmt.Sprintf(want415, "+json")},
		{"missing", lenient, "", `{}`, 415, `{"error":"Content-Type missing: want application/json (or a +json type)"}`},

		{"truncated", lenient, ct, `{"id":`, 400, `{"error":"request body as watchdog.order: unexpected EOF"}`},
		{"wrong type", lenient, ct, `{"qty":"two"}`, 400, `{"error":"request body as watchdog.order: json: cannot unmarshal string into Go struct field order.qty of type int"}`},
		{"not JSON", lenient, ct, `qty=2`, 400, `{"error":"request body as watchdog.order: invalid character 'q' looking for beginning of value"}`},
		{"empty", lenient, ct, ``, 400, `{"error":"request body is empty: want a JSON value for watchdog.order"}`},
		{"two values", lenient, ct, `{"id":"a"} {"id":"b"}`, 400, `{"error":"request body: want one JSON value, found more after it"}`},
		{"junk after", lenient, ct, `{"id":"a"}}`, 400, `{"error":"request body: want one JSON value, found more after it"}`},
		{"unknown field refused", strict, ct, `{"id":"a1","colour":"red"}`, 400, `{"error":"request body as watchdog.order: json: unknown field \"colour\""}`},

		{"status error", lenient, ct, `{"id":"missing"}`, 404, `{"error":"order \"missing\": no such order"}`},
		{"wrapped status error", lenient, ct, `{"id":"wrapped"}`, 409, `{"error":"price changed"}`},
		{"status error without text", lenient, ct, `{"id":"nil-err"}`, 418, `{"error":"I'm a teapot"}`},
		{"plain error", lenient, ct, `{"id":"plain"}`, 500, `{"error":"internal error"}`},
		{"status out of range", lenient, ct, `{"id":"bad-status"}`, 500, `{"error":"internal error"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, req)
			if rec.Code != tt.code || rec.Body.String() != tt.want {
				t.Errorf("= %d %s\nwant %d %s", rec.Code, rec.Body, tt.code, tt.want)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q, want application/json", got)
			}
		})
	}
}

func TestJSONContextEnds(t *testing.T) {
	fail := JSON(func(ctx context.Context, _ order) (receipt, error) {
		<-ctx.Done()
		return receipt{}, fmt.Errorf("upstream: %w", ctx.Err())
	})
	t.Run("caller left: no answer", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		rec := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(ctx, "POST", "/", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		fail.ServeHTTP(rec, req)
		if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
			t.Errorf("answered %d %q to a caller that left", rec.Code, rec.Body)
		}
	})
	t.Run("deadline: 504", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		rec := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(ctx, "POST", "/", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		fail.ServeHTTP(rec, req)
		if rec.Code != 504 || rec.Body.String() != `{"error":"the call's deadline passed"}` {
			t.Errorf("= %d %s", rec.Code, rec.Body)
		}
	})
}

func TestJSONUnencodableAnswer(t *testing.T) {
	h := JSON(func(context.Context, order) (map[string]any, error) {
		return map[string]any{"c": make(chan int)}, nil
	})
	req := httptest.NewRequest("POST", "/", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 500 || rec.Body.String() != `{"error":"internal error: the answer could not be encoded"}` {
		t.Errorf("= %d %s", rec.Code, rec.Body)
	}
}

// Behind the watchdog: the function's context has the call's deadline and
// logger, a body over max_body_bytes is 413, and a plain error is logged
// with the call id while the caller gets a generic 500.
func TestJSONBehindTheWatchdog(t *testing.T) {
	var hadDeadline bool
	h := JSON(func(ctx context.Context, o order) (receipt, error) {
		_, hadDeadline = ctx.Deadline()
		Logger(ctx).Info("pricing", "id", o.ID)
		return priceOrder(ctx, o)
	})
	cfg := testConfig(t)
	cfg.MaxBodyBytes = 64
	ts := startServer(t, cfg, h)
	post := func(body, callID string) (int, string) {
		req := ts.request("POST", "/", strings.NewReader(body), "Content-Type", "application/json", CallIDHeader, callID)
		req.ContentLength = -1 // undeclared, so the limit is met while decoding
		res, b := ts.do(req)
		return res.StatusCode, b
	}
	if code, body := post(`{"id":"a1","qty":2}`, "call-1"); code != 200 || body != `{"id":"a1","total":6}` {
		t.Errorf("ok call = %d %s", code, body)
	}
	if !hadDeadline {
		t.Error("the function's context has no deadline under exec_timeout")
	}
	if code, body := post(`{"id":"plain"}`, "call-2"); code != 500 || body != `{"error":"internal error"}` {
		t.Errorf("plain error = %d %s", code, body)
	}
	if code, body := post(`{"id":"`+strings.Repeat("x", 100)+`"}`, "call-3"); code != 413 || !strings.Contains(body, "http: request body too large (max_body_bytes)") {
		t.Errorf("large body = %d %s", code, body)
	}
	ts.stop()
	if l := ts.logs.withMsg(t, "pricing"); len(l) != 2 || l[0]["call_id"] != "call-1" {
		t.Errorf("function's log lines: %v", l)
	}
	if l := ts.logs.withMsg(t, "JSON handler: db: connection reset"); len(l) != 1 || l[0]["call_id"] != "call-2" || l[0]["level"] != "ERROR" {
		t.Errorf("plain error's log line: %v", l)
	}
}

var benchOrder = []byte(`{"id":"a1","qty":2}`)

// BenchmarkJSON and BenchmarkJSONHandWritten do the same work: decode an
// order, answer a receipt.
func BenchmarkJSON(b *testing.B) {
	benchHandler(b, JSON(priceOrder))
}

func BenchmarkJSONHandWritten(b *testing.B) {
	benchHandler(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			http.Error(w, "want JSON", http.StatusUnsupportedMediaType)
			return
		}
		var o order
		if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, err := priceOrder(r.Context(), o)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	}))
}

func benchHandler(b *testing.B, h http.Handler) {
	body := &bytesReader{}
	req := httptest.NewRequest("POST", "/", body)
	req.Header.Set("Content-Type", "application/json")
	rec := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		body.reset(benchOrder)
		clear(rec.h)
		h.ServeHTTP(rec, req)
	}
	if rec.status != 0 && rec.status != 200 {
		b.Fatalf("status %d", rec.status)
	}
}

type bytesReader struct{ b []byte }

func (r *bytesReader) reset(b []byte) { r.b = b }
func (r *bytesReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
