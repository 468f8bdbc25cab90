package watchdog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
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
	case "invalid":
		return receipt{}, &Error{Status: http.StatusUnprocessableEntity, Err: errors.New("the order is invalid"), Fields: []FieldError{
			{Pointer: "/qty", Detail: "want 1 or more"},
			{Detail: "query parameter currency: want EUR or USD"},
		}}
	}
	return receipt{ID: o.ID, Total: 3 * o.Qty}, nil
}

// problemSchema is testdata/problem.schema.json, the error shape
// docs/typed-json.md documents, compiled.
var problemSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	b, err := os.ReadFile("testdata/problem.schema.json")
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("problem.schema.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("problem.schema.json")
})

// checkProblem fails t unless an error answer is application/problem+json,
// valid against the documented schema, with its status as "status".
func checkProblem(t testing.TB, code int, header http.Header, body string) {
	t.Helper()
	if ct := header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("error answer's Content-Type %q, want application/problem+json", ct)
	}
	schema, err := problemSchema()
	if err != nil {
		t.Fatalf("the schema: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
	if err != nil {
		t.Fatalf("error answer %q is not JSON: %v", body, err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Errorf("error answer %s does not fit the schema: %v", body, err)
	}
	var p problem
	if json.Unmarshal([]byte(body), &p) == nil && p.Status != code {
		t.Errorf("problem's status %d, answer's %d", p.Status, code)
	}
}

func TestJSON(t *testing.T) {
	lenient := JSON(priceOrder)
	strict := JSON(priceOrder, DisallowUnknownFields())
	const ct = "application/json"
	want415 := `{"title":"Unsupported Media Type","status":415,"detail":"Content-Type \"%s\": want application/json (or a +json type)"}`
	bad := func(detail string) string {
		return `{"title":"Bad Request","status":400,"detail":` + detail + `}`
	}
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
		{"trailing newline, strict", strict, ct, "{\"id\":\"a1\",\"qty\":1}\n", 200, `{"id":"a1","total":3}`},
		{"unknown field ignored", lenient, ct, `{"id":"a1","qty":1,"colour":"red"}`, 200, `{"id":"a1","total":3}`},
		{"empty body: zero In", lenient, ct, ``, 200, `{"id":"","total":0}`},

		{"text/plain", lenient, "text/plain", `{}`, 415, fmt.Sprintf(want415, "text/plain")},
		{"form", lenient, "application/x-www-form-urlencoded", `a=b`, 415, fmt.Sprintf(want415, "application/x-www-form-urlencoded")},
		{"jsonx", lenient, "application/jsonx", `{}`, 415, fmt.Sprintf(want415, "application/jsonx")},
		{"bare +json", lenient, "+json", `{}`, 415, fmt.Sprintf(want415, "+json")},
		{"missing", lenient, "", `{}`, 415, `{"title":"Unsupported Media Type","status":415,"detail":"Content-Type missing: want application/json (or a +json type) for a request with a body"}`},

		{"truncated", lenient, ct, `{"id":`, 400, bad(`"request body is not JSON: it ends in the middle of a value"`)},
		{"truncated, strict", strict, ct, `{"id":`, 400, bad(`"request body is not JSON: it ends in the middle of a value"`)},
		{"wrong type", lenient, ct, `{"qty":"two"}`, 400, bad(`"request body at /qty: want an integer, got a string","errors":[{"pointer":"/qty","detail":"want an integer, got a string"}]`)},
		{"wrong type, strict", strict, ct, `{"qty":"two"}`, 400, bad(`"request body at /qty: want an integer, got a string","errors":[{"pointer":"/qty","detail":"want an integer, got a string"}]`)},
		{"too big", lenient, ct, `{"qty":1e30}`, 400, bad(`"request body at /qty: want an integer from -9223372036854775808 to 9223372036854775807, got number 1e30","errors":[{"pointer":"/qty","detail":"want an integer from -9223372036854775808 to 9223372036854775807, got number 1e30"}]`)},
		{"whole body of the wrong type", lenient, ct, `[1]`, 400, bad(`"request body: want an object, got an array"`)},
		{"not JSON", lenient, ct, `qty=2`, 400, bad(`"request body is not JSON: invalid character 'q' looking for beginning of value at byte 1"`)},
		{"two values", lenient, ct, `{"id":"a"} {"id":"b"}`, 400, bad(`"request body: want one JSON value, found more after it"`)},
		{"two values, strict", strict, ct, `{"id":"a"} {"id":"b"}`, 400, bad(`"request body: want one JSON value, found more after it"`)},
		{"junk after", lenient, ct, `{"id":"a"}}`, 400, bad(`"request body: want one JSON value, found more after it"`)},
		{"junk after, strict", strict, ct, `{"id":"a"}}`, 400, bad(`"request body: want one JSON value, found more after it"`)},
		{"unknown field refused", strict, ct, `{"id":"a1","colour":"red"}`, 400, bad(`"request body: unknown field \"colour\"","errors":[{"detail":"unknown field \"colour\": not one this function takes"}]`)},

		{"status error", lenient, ct, `{"id":"missing"}`, 404, `{"title":"Not Found","status":404,"detail":"order \"missing\": no such order"}`},
		{"wrapped status error", lenient, ct, `{"id":"wrapped"}`, 409, `{"title":"Conflict","status":409,"detail":"price changed"}`},
		{"status error without text", lenient, ct, `{"id":"nil-err"}`, 418, `{"title":"I'm a teapot","status":418,"detail":"I'm a teapot"}`},
		{"field errors", lenient, ct, `{"id":"invalid"}`, 422, `{"title":"Unprocessable Entity","status":422,"detail":"the order is invalid","errors":[{"pointer":"/qty","detail":"want 1 or more"},{"detail":"query parameter currency: want EUR or USD"}]}`},
		{"plain error", lenient, ct, `{"id":"plain"}`, 500, `{"title":"Internal Server Error","status":500,"detail":"internal error"}`},
		{"status out of range", lenient, ct, `{"id":"bad-status"}`, 500, `{"title":"Internal Server Error","status":500,"detail":"internal error"}`},
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
			if tt.code >= 400 {
				checkProblem(t, rec.Code, rec.Header(), rec.Body.String())
			} else if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q, want application/json", got)
			}
		})
	}
}

// A value of the wrong type is named by its JSON Pointer, array indexes
// and escaped keys included.
func TestJSONPointer(t *testing.T) {
	type line struct {
		Qty  int              `json:"qty"`
		Tags [][]string       `json:"tags"`
		M    map[string]uint8 `json:"m"`
	}
	h := JSON(func(_ context.Context, in struct {
		Lines []line `json:"lines"`
		Note  string `json:"note"`
	}) (struct{}, error) {
		return struct{}{}, nil
	})
	tests := []struct{ body, pointer, detail string }{
		{`{"lines":[{"qty":1},{"qty":"x"}]}`, "/lines/1/qty", "want an integer, got a string"},
		{`{"note":"}","lines":[{},{},{"tags":[["a"],["b",1]]}]}`, "/lines/2/tags/1/1", "want a string, got a number"},
		{`{"lines":[{"m":{"a/b~c":256}}]}`, "/lines/0/m/a~1b~0c", "want an integer from 0 to 255, got number 256"},
		{`{"lines":[{"qty":1,"m":{"x":1}},{"tags":{}}]}`, "/lines/1/tags", "want an array, got an object"},
		{`{"lines":[[]]}`, "/lines/0", "want an object, got an array"},
		{`{"lines":true}`, "/lines", "want an array, got true or false"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkProblem(t, rec.Code, rec.Header(), rec.Body.String())
		var p problem
		_ = json.Unmarshal(rec.Body.Bytes(), &p)
		if rec.Code != 400 || len(p.Errors) != 1 || p.Errors[0] != (FieldError{tt.pointer, tt.detail}) || p.Detail != "request body at "+tt.pointer+": "+tt.detail {
			t.Errorf("%s = %d %s\nwant %s: %s", tt.body, rec.Code, rec.Body, tt.pointer, tt.detail)
		}
	}
}

// The function chooses the answer's status and headers with a Response,
// as a value or a pointer.
func TestJSONResponse(t *testing.T) {
	created := JSON(func(_ context.Context, o order) (*Response[receipt], error) {
		switch o.ID {
		case "nil":
			return nil, nil
		case "404":
			return &Response[receipt]{Status: 404}, nil
		case "own type":
			return &Response[receipt]{Header: http.Header{"Content-Type": {"application/vnd.shop.receipt+json"}}, Body: receipt{ID: o.ID}}, nil
		case "not json":
			return &Response[receipt]{Header: http.Header{"Content-Type": {"text/plain"}}, Body: receipt{ID: o.ID}}, nil
		}
		res := NewResponse(http.StatusCreated, receipt{ID: o.ID, Total: 3 * o.Qty})
		res.Header.Set("Location", "/orders/"+o.ID)
		res.Header.Set("ETag", `"v1"`)
		return res, nil
	})
	byValue := JSON(func(_ context.Context, o order) (Response[receipt], error) {
		status, _ := map[string]int{"202": 202, "204": 204, "304": 304, "0": 0}[o.ID]
		return Response[receipt]{Status: status, Header: http.Header{"Cache-Control": {"max-age=60"}}, Body: receipt{ID: o.ID}}, nil
	})
	tests := []struct {
		name   string
		h      http.Handler
		body   string
		code   int
		header map[string]string
		want   string
	}{
		{"201 with Location", created, `{"id":"a1","qty":2}`, 201, map[string]string{"Location": "/orders/a1", "ETag": `"v1"`, "Content-Type": "application/json"}, `{"id":"a1","total":6}`},
		{"own +json type kept", created, `{"id":"own type"}`, 200, map[string]string{"Content-Type": "application/vnd.shop.receipt+json"}, `{"id":"own type","total":0}`},
		{"a type that is not JSON replaced", created, `{"id":"not json"}`, 200, map[string]string{"Content-Type": "application/json"}, `{"id":"not json","total":0}`},
		{"nil *Response", created, `{"id":"nil"}`, 500, nil, `{"title":"Internal Server Error","status":500,"detail":"internal error: the function gave no answer"}`},
		{"error status in a Response", created, `{"id":"404"}`, 500, nil, `{"title":"Internal Server Error","status":500,"detail":"internal error"}`},
		{"202 by value", byValue, `{"id":"202"}`, 202, map[string]string{"Cache-Control": "max-age=60", "Content-Type": "application/json"}, `{"id":"202","total":0}`},
		{"204: no body", byValue, `{"id":"204"}`, 204, map[string]string{"Cache-Control": "max-age=60", "Content-Type": ""}, ``},
		{"304: no body", byValue, `{"id":"304"}`, 304, map[string]string{"Content-Type": ""}, ``},
		{"0 is 200", byValue, `{"id":"0"}`, 200, map[string]string{"Content-Type": "application/json"}, `{"id":"0","total":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, req)
			if rec.Code != tt.code || rec.Body.String() != tt.want {
				t.Errorf("= %d %s\nwant %d %s", rec.Code, rec.Body, tt.code, tt.want)
			}
			for k, v := range tt.header {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if tt.code >= 400 {
				checkProblem(t, rec.Code, rec.Header(), rec.Body.String())
			} else if got, want := rec.Header().Get("Content-Length"), strconv.Itoa(len(tt.want)); tt.want != "" && got != want {
				t.Errorf("Content-Length %q, want %s", got, want)
			}
		})
	}
}

// An answer longer than net/http's buffer goes out whole, with its length,
// not chunked.
func TestJSONLongAnswer(t *testing.T) {
	long := strings.Repeat("x", 5000)
	h := JSON(func(context.Context, struct{}) (receipt, error) { return receipt{ID: long}, nil })
	ts := startServer(t, testConfig(t), h)
	res, body := ts.do(ts.request("GET", "/", nil))
	if want := `{"id":"` + long + `","total":0}`; res.StatusCode != 200 || body != want {
		t.Fatalf("= %d %.40s..., want 200 %.40s...", res.StatusCode, body, want)
	}
	if res.ContentLength != int64(len(body)) || len(res.TransferEncoding) != 0 {
		t.Errorf("Content-Length %d, Transfer-Encoding %v: want %d, none", res.ContentLength, res.TransferEncoding, len(body))
	}
}

// The function reads the request's headers, query and path with a
// Request, as a value or a pointer, and its body decodes as any In's.
func TestJSONRequest(t *testing.T) {
	type seen struct {
		Body        order  `json:"body"`
		Idempotency string `json:"idempotency"`
		DryRun      string `json:"dry_run"`
		Path        string `json:"path"`
		ID          string `json:"id"`
	}
	mux := http.NewServeMux()
	mux.Handle("PUT /orders/{id}", JSON(func(_ context.Context, req *Request[order]) (seen, error) {
		return seen{req.Body, req.Header.Get("Idempotency-Key"), req.URL.Query().Get("dry_run"), req.URL.Path, req.PathValue("id")}, nil
	}))
	mux.Handle("PUT /v/{id}", JSON(func(_ context.Context, req Request[order]) (seen, error) {
		return seen{req.Body, req.Header.Get("Idempotency-Key"), req.URL.Query().Get("dry_run"), req.URL.Path, req.PathValue("id")}, nil
	}))
	tests := []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"pointer", "/orders/a1?dry_run=1", `{"id":"a1","qty":2}`, 200, `{"body":{"id":"a1","qty":2},"idempotency":"k-1","dry_run":"1","path":"/orders/a1","id":"a1"}`},
		{"value", "/v/b2", `{"qty":3}`, 200, `{"body":{"id":"","qty":3},"idempotency":"k-1","dry_run":"","path":"/v/b2","id":"b2"}`},
		{"no body", "/orders/c3", ``, 200, `{"body":{"id":"","qty":0},"idempotency":"k-1","dry_run":"","path":"/orders/c3","id":"c3"}`},
		{"a decode error names the body's field, not Body's", "/v/d4", `{"qty":"x"}`, 400, `{"title":"Bad Request","status":400,"detail":"request body at /qty: want an integer, got a string","errors":[{"pointer":"/qty","detail":"want an integer, got a string"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("PUT", tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "k-1")
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != tt.code || rec.Body.String() != tt.want {
				t.Errorf("= %d %s\nwant %d %s", rec.Code, rec.Body, tt.code, tt.want)
			}
		})
	}
}

// A request without a body decodes to the zero In, whatever its method and
// Content-Type; one with a body must be JSON.
func TestJSONBodyless(t *testing.T) {
	h := JSON(func(_ context.Context, req *Request[order]) (string, error) {
		return fmt.Sprintf("%s %+v", req.Method, req.Body), nil
	})
	ts := startServer(t, testConfig(t), h)
	tests := []struct {
		name, method, contentType, body string
		chunked                         bool
		code                            int
		want                            string
	}{
		{"GET", "GET", "", "", false, 200, `"GET {ID: Qty:0}"`},
		{"DELETE, any type", "DELETE", "text/plain", "", false, 200, `"DELETE {ID: Qty:0}"`},
		{"POST with Content-Length: 0", "POST", "application/json", "", false, 200, `"POST {ID: Qty:0}"`},
		{"POST, chunked and empty", "POST", "application/json", "", true, 200, `"POST {ID: Qty:0}"`},
		{"POST, chunked and empty, no type", "POST", "", "", true, 200, `"POST {ID: Qty:0}"`},
		{"POST, chunked, with a body and no type", "POST", "", `{"qty":1}`, true, 415, `{"title":"Unsupported Media Type","status":415,"detail":"Content-Type missing: want application/json (or a +json type) for a request with a body"}`},
		{"POST with a body", "POST", "application/json", `{"qty":1}`, true, 200, `"POST {ID: Qty:1}"`},
		{"POST with a body and no type", "POST", "", `{"qty":1}`, false, 415, `{"title":"Unsupported Media Type","status":415,"detail":"Content-Type missing: want application/json (or a +json type) for a request with a body"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" || tt.chunked {
				body = strings.NewReader(tt.body)
			}
			req := ts.request(tt.method, "/", body)
			if tt.chunked {
				req.ContentLength = -1
				req.Body = io.NopCloser(body)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			res, got := ts.do(req)
			if res.StatusCode != tt.code || got != tt.want {
				t.Errorf("= %d %s\nwant %d %s", res.StatusCode, got, tt.code, tt.want)
			}
			if tt.code >= 400 {
				checkProblem(t, res.StatusCode, res.Header, got)
			}
		})
	}
}

// A panic in the function answers 500 as a problem behind the watchdog,
// which logs it as any handler's; outside the watchdog it goes on as it
// came.
func TestJSONPanic(t *testing.T) {
	h := JSON(func(_ context.Context, o order) (receipt, error) {
		if o.ID == "abort" {
			panic(http.ErrAbortHandler)
		}
		panic("out of " + o.ID)
	})
	ts := startServer(t, testConfig(t), h)
	res, body := ts.do(ts.request("POST", "/", strings.NewReader(`{"id":"stock"}`), "Content-Type", "application/json", CallIDHeader, "call-p"))
	want := `{"title":"Internal Server Error","status":500,"detail":"the function panicked; its logs have the details under call id call-p"}`
	if res.StatusCode != 500 || body != want {
		t.Errorf("= %d %s\nwant 500 %s", res.StatusCode, body, want)
	}
	checkProblem(t, res.StatusCode, res.Header, body)
	if _, err := ts.client.Do(ts.request("POST", "/", strings.NewReader(`{"id":"abort"}`), "Content-Type", "application/json")); err == nil {
		t.Error("http.ErrAbortHandler: the call got an answer; want the connection dropped")
	}
	ts.stop()
	if l := ts.logs.withMsg(t, "handler panicked"); len(l) != 1 || l[0]["panic"] != "out of stock" || l[0]["call_id"] != "call-p" ||
		!strings.Contains(fmt.Sprint(l[0]["stack"]), "TestJSONPanic") {
		t.Errorf("the panic's log line: %v", l)
	}

	defer func() {
		if v := recover(); v != "out of here" {
			t.Errorf("outside the watchdog, recovered %#v, want the function's own panic value", v)
		}
	}()
	req := httptest.NewRequest("POST", "/", strings.NewReader(`{"id":"here"}`))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(httptest.NewRecorder(), req)
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
		if rec.Code != 504 || rec.Body.String() != `{"title":"Gateway Timeout","status":504,"detail":"the call's deadline passed"}` {
			t.Errorf("= %d %s", rec.Code, rec.Body)
		}
		checkProblem(t, rec.Code, rec.Header(), rec.Body.String())
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
	if rec.Code != 500 || rec.Body.String() != `{"title":"Internal Server Error","status":500,"detail":"internal error: the answer could not be encoded"}` {
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
		if res.StatusCode >= 400 {
			checkProblem(t, res.StatusCode, res.Header, b)
		}
		return res.StatusCode, b
	}
	if code, body := post(`{"id":"a1","qty":2}`, "call-1"); code != 200 || body != `{"id":"a1","total":6}` {
		t.Errorf("ok call = %d %s", code, body)
	}
	if !hadDeadline {
		t.Error("the function's context has no deadline under exec_timeout")
	}
	if code, body := post(`{"id":"plain"}`, "call-2"); code != 500 || body != `{"title":"Internal Server Error","status":500,"detail":"internal error"}` {
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

// The schema docs/typed-json.md shows is the one the tests check against.
func TestJSONProblemSchemaDocumented(t *testing.T) {
	schema, err := os.ReadFile("testdata/problem.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/typed-json.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, schema) {
		t.Error("docs/typed-json.md does not show testdata/problem.schema.json as it is")
	}
}

// fuzzIn has a field of each kind encoding/json decodes, so that a decode
// error can meet each.
type fuzzIn struct {
	S   string            `json:"s"`
	I8  int8              `json:"i8"`
	U   uint              `json:"u"`
	F32 float32           `json:"f32"`
	B   bool              `json:"b"`
	P   *int              `json:"p"`
	Raw []byte            `json:"raw"`
	T   time.Time         `json:"t"`
	L   []fuzzLine        `json:"l"`
	A   [2]int            `json:"a"`
	M   map[string]uint16 `json:"m"`
	N   json.Number       `json:"n"`
	Any any               `json:"any"`
	Str int               `json:"str,string"`
}

type fuzzLine struct {
	SKU string  `json:"sku"`
	Qty int     `json:"qty"`
	Sub *fuzzIn `json:"sub"`
}

// goTypeWords matches what names a Go type rather than a JSON one.
var goTypeWords = regexp.MustCompile(`\bGo\b|\bstruct\b|\b(u?int|float|complex)\d*\b|\bmap\[|\[\]|\binterface\b|\bwatchdog\.|\btime\.|\bjson\.|\breflect\b|\*`)

// quoted matches the caller's own text as the answers quote it.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)

// FuzzJSONDecodeError: whatever the body, an error answer fits the schema
// and its text names no Go type, outside what it quotes of the body. Seeds:
// testdata/fuzz/FuzzJSONDecodeError, a value of the wrong type for each
// field of fuzzIn and broken JSON.
func FuzzJSONDecodeError(f *testing.F) {
	handlers := []http.Handler{
		JSON(func(context.Context, fuzzIn) (struct{}, error) { return struct{}{}, nil }),
		JSON(func(context.Context, fuzzIn) (struct{}, error) { return struct{}{}, nil }, DisallowUnknownFields()),
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, h := range handlers {
			req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			switch rec.Code {
			case 200:
				continue
			case 400:
			default:
				t.Fatalf("%q: status %d %s", body, rec.Code, rec.Body)
			}
			checkProblem(t, rec.Code, rec.Header(), rec.Body.String())
			var p problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			texts := []string{p.Detail}
			for _, e := range p.Errors {
				texts = append(texts, e.Detail)
			}
			for _, s := range texts {
				for _, e := range p.Errors {
					if e.Pointer != "" {
						s = strings.ReplaceAll(s, e.Pointer, "/") // the body's own keys
					}
				}
				if w := goTypeWords.FindString(quoted.ReplaceAllString(s, `""`)); w != "" {
					t.Errorf("%q: the answer names a Go type (%q): %s", body, w, s)
				}
			}
		}
	})
}

// The pattern above finds the Go type names fuzzIn is made of, in the
// form encoding/json's own errors print them.
func TestGoTypeWords(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[fuzzIn](), reflect.TypeFor[[]fuzzLine](), reflect.TypeFor[map[string]uint16](),
		reflect.TypeFor[int8](), reflect.TypeFor[float32](), reflect.TypeFor[*int](), reflect.TypeFor[[2]int]()} {
		err := json.Unmarshal([]byte(`true`), reflect.New(typ).Interface())
		if err == nil || !goTypeWords.MatchString(err.Error()) {
			t.Errorf("%s: %q names it and the pattern misses it", typ, err)
		}
	}
}

var benchOrder = []byte(`{"id":"a1","qty":2}`)

// BenchmarkJSON and BenchmarkJSONHandWritten do the same work: decode an
// order, answer a receipt. BenchmarkJSONRequestResponse does it with a
// Request and a Response, reading a header and setting one.
func BenchmarkJSON(b *testing.B) {
	benchHandler(b, JSON(priceOrder))
}

func BenchmarkJSONRequestResponse(b *testing.B) {
	benchHandler(b, JSON(func(ctx context.Context, req *Request[order]) (*Response[receipt], error) {
		out, err := priceOrder(ctx, req.Body)
		res := NewResponse(http.StatusOK, out)
		res.Header.Set("ETag", req.Header.Get("Content-Type"))
		return res, err
	}))
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
