package function

import (
	"fmt"
	"io"
	"net/http"
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
// read an OpenFaaS secret with watchdog.Secret(r.Context(), "api-key"), and
// answer typed JSON with watchdog.JSON (docs/function-api.md and
// docs/typed-json.md in github.com/inproc-go/templates).

// Handle answers one call. r.Context() ends at exec_timeout or when the
// caller goes away; watchdog.Logger(r.Context()) logs with the call id.
func Handle(w http.ResponseWriter, r *http.Request) {
	var input []byte
	if r.Body != nil {
		defer r.Body.Close()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		input = body
	}

	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "Body: %s", input)
}
