package function

import (
	"fmt"
	"net/http"

	handler "github.com/inproc-go/templates/watchdog/go-http"
)

// What a function can do from its own folder, with main.go as it is:
// register hooks from an init function in this package,
//
//	func init() {
//		watchdog.OnStart(func(ctx context.Context) error { return db.Open(ctx) })  // before the first call
//		watchdog.OnReady(func(ctx context.Context) error { return db.Ping(ctx) })  // /_/ready 503 with the error
//		watchdog.OnShutdown(func(ctx context.Context) error { return db.Close() }) // after the drain
//	}
//
// and read an OpenFaaS secret with watchdog.Secret(req.Context(), "api-key")
// (docs/function-api.md in github.com/inproc-go/templates).

// Handle answers one call. req.Context() ends at exec_timeout or when the
// caller goes away; a returned error answers 500 and is logged with the call id.
func Handle(req handler.Request) (handler.Response, error) {
	message := fmt.Sprintf("Body: %s", string(req.Body))

	return handler.Response{
		Body:       []byte(message),
		StatusCode: http.StatusOK,
	}, nil
}
