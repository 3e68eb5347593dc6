package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/egress"
	"github.com/mdingest/mdingest/internal/ratelimit"
)

// startHold bounds how long a process waits, before its first count of
// the processes on its egress, to send anything on its local accounts:
// started beside another, it would otherwise spend the whole budget while
// the other does too. A database that cannot be reached in that time
// leaves it counting itself alone, as before.
const startHold = 3 * egress.DefaultInterval

// SharePeers counts, in the background, the processes that send from this
// instance's egress (egress_id), and keeps the limiters to their share of
// each budget whenever the shared state (Redis) is unavailable. Until the
// first count the local accounts grant nothing (for at most startHold).
// stop ends the count and waits for it.
func SharePeers(ctx context.Context, cfg config.Config, logger *slog.Logger, limiters ...*ratelimit.Limiter) (stop func(), err error) {
	for _, l := range limiters {
		l.HoldLocal(startHold)
	}
	p, err := egress.New(egress.Options{
		DatabaseURL: cfg.DatabaseURL.Reveal(), Egress: egress.ID(cfg.EgressID), Logger: logger,
		OnChange: func(n int) {
			for _, l := range limiters {
				l.SetPeers(n)
			}
		},
		OnJoin: func(hold time.Duration) {
			for _, l := range limiters {
				l.HoldLocal(hold)
			}
		},
		OnFirstCount: func(n int) {
			if n > 1 {
				return // OnJoin has held the limiters for the others to learn of us
			}
			for _, l := range limiters {
				l.ReleaseLocal()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.Run(ctx) // nil when ctx ends; failures are logged and retried
	}()
	return func() { cancel(); <-done }, nil
}
