package watchdog_test

import (
	"context"
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

// A typed function as the handler: in golang-middleware-inproc, Handle can
// be watchdog.JSON(price).ServeHTTP. An error carries its status with
// StatusError.
func ExampleJSON() {
	price := func(ctx context.Context, o Order) (Receipt, error) {
		if o.Qty <= 0 {
			return Receipt{}, watchdog.StatusError(http.StatusUnprocessableEntity, fmt.Errorf("qty %d: want 1 or more", o.Qty))
		}
		watchdog.Logger(ctx).Info("pricing", "order", o.ID) // the call's logger, with its call_id
		return Receipt{ID: o.ID, Total: 3 * o.Qty}, nil
	}
	h := watchdog.JSON(price, watchdog.DisallowUnknownFields())

	for _, call := range []struct{ contentType, body string }{
		{"application/json", `{"id":"a1","qty":2}`},
		{"application/json", `{"id":"a1","qty":0}`},
		{"application/json", `{"id":"a1","qyt":2}`},
		{"text/plain", `{"id":"a1","qty":2}`},
	} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(call.body))
		req.Header.Set("Content-Type", call.contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body)
	}
	// Output:
	// 200 {"id":"a1","total":6}
	// 422 {"error":"qty 0: want 1 or more"}
	// 400 {"error":"request body as watchdog_test.Order: json: unknown field \"qyt\""}
	// 415 {"error":"Content-Type \"text/plain\": want application/json (or a +json type)"}
}
