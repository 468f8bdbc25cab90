// The benchmark's handler for golang-middleware-inproc: the request body back,
// exactly as the bare net/http server answers.
package function

import (
	"io"
	"net/http"
)

func Handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
