package function

import (
	"fmt"
	"net/http"

	handler "github.com/inproc-go/templates/watchdog/go-http"
)

// Handle answers one call. req.Context() ends at exec_timeout or when the
// caller goes away; a returned error answers 500 and is logged with the call id.
func Handle(req handler.Request) (handler.Response, error) {
	message := fmt.Sprintf("Body: %s", string(req.Body))

	return handler.Response{
		Body:       []byte(message),
		StatusCode: http.StatusOK,
	}, nil
}
