// The benchmark's handler for golang-http-inproc: the request body back,
// exactly as the bare net/http server answers.
package function

import (
	"net/http"

	handler "github.com/inproc-go/templates/watchdog/go-http"
)

func Handle(req handler.Request) (handler.Response, error) {
	return handler.Response{Body: req.Body, StatusCode: http.StatusOK}, nil
}
