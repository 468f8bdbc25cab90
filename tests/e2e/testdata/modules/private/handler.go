package function

import (
	"fmt"
	"io"
	"net/http"

	"private.example.com/greeter"
)

// Handle greets the body's sender with a module served by a private,
// authenticated module proxy.
func Handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprint(w, greeter.Hello(string(body)))
}
