package watchdog_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/inproc-go/templates/watchdog"
)

type Order struct {
	ID  string `json:"id"`
	Qty int    `json:"qty"`
}

type Receipt struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

// call sends one request to h and prints the answer's status,
// Content-Type and body.
func call(h http.Handler, method, target, body string) {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), rec.Body)
}

// A typed function as the handler: in golang-middleware-inproc, Handle can
// be watchdog.JSON(price).ServeHTTP. An error carries its status with
// StatusError; the caller gets it as an RFC 9457 problem, as it gets a
// body that does not decode.
func ExampleJSON() {
	price := func(ctx context.Context, o Order) (Receipt, error) {
		if o.Qty <= 0 {
			return Receipt{}, watchdog.StatusError(http.StatusUnprocessableEntity, fmt.Errorf("qty %d: want 1 or more", o.Qty))
		}
		watchdog.Logger(ctx).Info("pricing", "order", o.ID) // the call's logger, with its call_id
		return Receipt{ID: o.ID, Total: 3 * o.Qty}, nil
	}
	h := watchdog.JSON(price, watchdog.DisallowUnknownFields())

	call(h, "POST", "/", `{"id":"a1","qty":2}`)
	call(h, "POST", "/", `{"id":"a1","qty":0}`)
	call(h, "POST", "/", `{"id":"a1","qty":"two"}`)
	call(h, "POST", "/", `{"id":"a1","qyt":2}`)
	// Output:
	// 200 application/json {"id":"a1","total":6}
	// 422 application/problem+json {"title":"Unprocessable Entity","status":422,"detail":"qty 0: want 1 or more"}
	// 400 application/problem+json {"title":"Bad Request","status":400,"detail":"request body at /qty: want an integer, got a string","errors":[{"pointer":"/qty","detail":"want an integer, got a string"}]}
	// 400 application/problem+json {"title":"Bad Request","status":400,"detail":"request body: unknown field \"qyt\"","errors":[{"detail":"unknown field \"qyt\": not one this function takes"}]}
}

// With a Request the function reads the request's headers, query and path;
// with a Response it chooses the status and headers of the answer: here
// 201 with a Location, and 200 for a repeated Idempotency-Key.
func ExampleJSON_requestResponse() {
	seen := map[string]string{} // Idempotency-Key: order id
	place := func(ctx context.Context, req *watchdog.Request[Order]) (*watchdog.Response[Receipt], error) {
		receipt := Receipt{ID: req.Body.ID, Total: 3 * req.Body.Qty}
		key := req.Header.Get("Idempotency-Key")
		if _, ok := seen[key]; ok {
			return watchdog.NewResponse(http.StatusOK, receipt), nil
		}
		seen[key] = receipt.ID
		res := watchdog.NewResponse(http.StatusCreated, receipt)
		res.Header.Set("Location", "/orders/"+receipt.ID)
		return res, nil
	}
	get := func(ctx context.Context, req *watchdog.Request[struct{}]) (*watchdog.Response[Receipt], error) {
		res := watchdog.NewResponse(http.StatusOK, Receipt{ID: req.PathValue("id"), Total: 6})
		res.Header.Set("Cache-Control", "max-age=60")
		return res, nil
	}
	mux := http.NewServeMux()
	mux.Handle("POST /orders", watchdog.JSON(place))
	mux.Handle("GET /orders/{id}", watchdog.JSON(get)) // no body: the zero In

	for range 2 {
		req := httptest.NewRequest("POST", "/orders", strings.NewReader(`{"id":"a1","qty":2}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "k-1")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/orders/a1", nil))
	fmt.Println(rec.Code, rec.Header().Get("Cache-Control"), rec.Body)
	// Output:
	// 201 /orders/a1 {"id":"a1","total":6}
	// 200  {"id":"a1","total":6}
	// 200 max-age=60 {"id":"a1","total":6}
}

// An *Error with Fields answers a request wrong in several places at once,
// each field named by its JSON Pointer.
func ExampleError() {
	type Signup struct {
		Email string `json:"email"`
		Age   int    `json:"age"`
	}
	signup := func(ctx context.Context, s Signup) (struct{}, error) {
		var fields []watchdog.FieldError
		if !strings.Contains(s.Email, "@") {
			fields = append(fields, watchdog.FieldError{Pointer: "/email", Detail: "want an email address"})
		}
		if s.Age < 18 {
			fields = append(fields, watchdog.FieldError{Pointer: "/age", Detail: "want 18 or more"})
		}
		if fields != nil {
			return struct{}{}, &watchdog.Error{Status: http.StatusUnprocessableEntity, Err: errors.New("the signup is invalid"), Fields: fields}
		}
		return struct{}{}, nil
	}
	call(watchdog.JSON(signup), "POST", "/", `{"email":"ann","age":12}`)
	// Output:
	// 422 application/problem+json {"title":"Unprocessable Entity","status":422,"detail":"the signup is invalid","errors":[{"pointer":"/email","detail":"want an email address"},{"pointer":"/age","detail":"want 18 or more"}]}
}
