// The benchmark's handler for golang-http-inproc: the request body back with
// the request's Content-Type, exactly as the bare net/http server answers.
package function

import (
	"net/http"

	handler "github.com/inproc-go/templates/watchdog/go-http"
)

func Handle(req handler.Request) (handler.Response, error) {
	res := handler.Response{Body: req.Body, StatusCode: http.StatusOK}
	if ct, ok := req.Header["Content-Type"]; ok {
		res.Header = http.Header{"Content-Type": ct}
	}
	return res, nil
}
