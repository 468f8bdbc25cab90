package function

import (
	"net/http"

	"handler/function/internal/greet"

	handler "github.com/inproc-go/templates/watchdog/go-http"
)

// Handle greets the caller with a package of the function's own module.
func Handle(req handler.Request) (handler.Response, error) {
	return handler.Response{
		Body:       []byte(greet.Greeting(string(req.Body))),
		StatusCode: http.StatusOK,
	}, nil
}
