package otelwatchdog_test

import (
	"io"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"

	"github.com/inproc-go/templates/watchdog/otelwatchdog"
)

// client carries the call's trace on to the services the function calls:
// otelhttp's transport makes a client span under the call's and sends its
// traceparent.
var client = &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport)}

// A handler built with the "otel" tag: its spans are children of the span
// the watchdog started for the call, and so is the outgoing call. (Not run
// here, so it has no Output: the handler calls another function over the
// network; serving with spans exported is run in provider_test.go.)
func Example() {
	handle := func(w http.ResponseWriter, r *http.Request) {
		otelwatchdog.SetRoute(r, "/orders") // the span becomes "POST /orders"

		ctx, span := otel.Tracer("orders").Start(r.Context(), "validate")
		span.SetAttributes(attribute.Int("order.items", 3))
		span.End()

		req, err := http.NewRequestWithContext(ctx, "GET", "http://inventory.openfaas-fn:8080/", nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		res, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		_, _ = io.Copy(w, res.Body)
	}
	_ = handle
}
