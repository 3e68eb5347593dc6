package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/egress"
	"github.com/mdingest/mdingest/internal/ratelimit"
)

// SharePeers counts, in the background, the processes that send from this
// instance's egress (egress_id), and keeps the limiters to their share of
// each budget whenever the shared state (Redis) is unavailable. stop ends
// the count and waits for it.
func SharePeers(ctx context.Context, cfg config.Config, logger *slog.Logger, limiters ...*ratelimit.Limiter) (stop func(), err error) {
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
