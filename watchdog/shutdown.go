package watchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// quietPeriod ends the post-SIGTERM wait early on an idle pod: with nothing
// in flight and no call for this long, the endpoint change has most likely
// reached the router, and waiting out a long healthcheck_interval only delays
// a scale-down or a local Ctrl-C.
const quietPeriod = 2 * time.Second

// drain is the shutdown sequence once Serve's context is done:
//  1. /_/health and /_/ready answer 503 and the lock file goes, so probes and
//     the exec probe see the pod leaving;
//  2. calls keep being served for healthcheck_interval (less when idle, see
//     quietPeriod) while the platform stops routing here;
//  3. the listener closes and in-flight calls get up to write_timeout;
//  4. OnShutdown hooks run, bounded by the cleanup timeout.
//
// It returns nil only if nothing was cut off and every hook succeeded.
func (s *Server) drain(cause error) error {
	// Logged first, so that whoever sees the 503 knows the line is queued.
	s.logger.Info("shutdown: health answers 503; still serving while endpoints update",
		slog.String("cause", cause.Error()),
		slog.Duration("healthcheck_interval", s.cfg.HealthcheckInterval))
	s.health.accepting.Store(false)
	lockErr := removeLockFile(s.health.lockFile)
	s.waitForEndpoints(time.Now())

	s.logger.Info("shutdown: no new connections; draining", slog.Int64("in_flight", s.metrics.inflight.Load()))
	var cutErr error
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
	defer cancel()
	if err := s.fnServer.Shutdown(ctx); err != nil {
		n := s.metrics.inflight.Load()
		s.fnServer.Close()
		// Calls that ended while Shutdown gave up were not cut off.
		if n > 0 {
			cutErr = fmt.Errorf("shutdown: %d call(s) still running after write_timeout (%s) were cut off", n, s.cfg.WriteTimeout)
			s.logger.Error(cutErr.Error())
		}
	}
	s.metricsServer.Close()

	hookErr := s.runShutdown()
	s.logger.Info("shutdown: complete", slog.Bool("clean", cutErr == nil && hookErr == nil && lockErr == nil))
	return errors.Join(cutErr, hookErr, lockErr)
}

// waitForEndpoints keeps serving for healthcheck_interval after start, or
// until nothing is in flight and no call has arrived for quietPeriod.
func (s *Server) waitForEndpoints(start time.Time) {
	deadline := start.Add(s.cfg.HealthcheckInterval)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for now := range tick.C {
		if !now.Before(deadline) {
			return
		}
		last := time.Unix(0, s.lastArrival.Load())
		if last.Before(start) {
			last = start
		}
		if s.metrics.inflight.Load() == 0 && now.Sub(last) >= quietPeriod {
			s.logger.Info("shutdown: idle, not waiting out healthcheck_interval", slog.Duration("quiet_for", now.Sub(last)))
			return
		}
	}
}
