package function

import (
	"fmt"
	"io"
	"net/http"
)

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
