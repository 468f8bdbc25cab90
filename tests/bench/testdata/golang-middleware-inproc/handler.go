// The benchmark's handler for golang-middleware-inproc: the request body back
// with the request's Content-Type, exactly as the bare net/http server
// answers.
package function

import (
	"io"
	"net/http"
)

func Handle(w http.ResponseWriter, r *http.Request) {
	if ct, ok := r.Header["Content-Type"]; ok {
		w.Header()["Content-Type"] = ct
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
