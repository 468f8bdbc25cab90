// Package wait waits for a function, or any HTTP server the tests start, to
// answer 200 OK: the one "wait until /_/health answers 200" of the test
// programs and tools under tests/.
package wait

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ErrTimeout is wrapped by the error Healthy returns when its timeout
// passes without a 200.
var ErrTimeout = errors.New("timed out")

// Healthy asks url with GET through client until it answers 200 OK, and
// returns nil then. Only 200 counts: any other status, like a request that
// fails, is asked again after interval.
//
// It gives up and returns an error:
//   - wrapping ErrTimeout once timeout has passed, naming the last status
//     or request error;
//   - ctx.Err() once ctx is done;
//   - gone's error, as it is: gone (which may be nil) is called after each
//     ask that did not answer 200, and says whether what is waited for has
//     ended (its process exited, its container stopped), so a wait does not
//     outlast it.
//
// The client's own timeout bounds each ask; a client without one can let a
// hung accept use up the whole wait.
func Healthy(ctx context.Context, client *http.Client, url string, timeout, interval time.Duration, gone func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTimer(0)
	defer tick.Stop()
	for {
		last := ask(ctx, client, url)
		if last == nil {
			return nil
		}
		if gone != nil {
			if err := gone(); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no 200 within %s (last: %v): %w", url, timeout, last, ErrTimeout)
		}
		tick.Reset(interval)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// ask GETs url once: nil for a 200, else the status or the request's error.
func ask(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", res.Status)
	}
	return nil
}
