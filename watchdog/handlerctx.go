package watchdog

import (
	"context"
	"time"
)

// Under exec_timeout the call itself can be the handler's context, the
// deadline context (c.timed.ctx) answering for it, so the handler gets the
// request withCall made rather than a second copy for its deadline (see
// execTimeout.serve for when). From then on the call's Deadline, Done, Err
// and, through Value, Cause are the handler's deadline's, for the layers
// outside the handler too; they ask requestErr how the caller's request
// ended. Before then, and in a call whose handler has a context of its own,
// they are the request's.

// current is the context the call answers for: the handler's deadline
// context once the call is the handler's context, else the request's.
func (c *call) current() context.Context {
	if c.timed.isContext.Load() {
		return &c.timed.ctx
	}
	return c.Context
}

func (c *call) Deadline() (time.Time, bool) { return c.current().Deadline() }
func (c *call) Done() <-chan struct{}       { return c.current().Done() }
func (c *call) Err() error                  { return c.current().Err() }

// requestErr is how the request whose context is ctx ended, nil while it
// goes on: ctx's own Err, but for a call, which may be the handler's
// deadline context by now, the Err of the request's context it was made on.
func requestErr(ctx context.Context) error {
	if c, ok := ctx.(*call); ok {
		return c.Context.Err()
	}
	return ctx.Err()
}
