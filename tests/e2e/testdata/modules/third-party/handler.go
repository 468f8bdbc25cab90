package function

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Handle compares the words of the body with "hello world", ignoring order,
// using a third-party module from the Go module proxy.
func Handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	want := []string{"hello", "world"}
	got := strings.Fields(string(body))
	sorted := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	fmt.Fprintf(w, "go-cmp equal=%t", cmp.Equal(want, got, sorted))
}
