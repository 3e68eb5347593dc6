package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/bsm/redislock"
	"github.com/redis/go-redis/v9"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/ingest"
	"github.com/mdingest/mdingest/internal/quality"
	"github.com/mdingest/mdingest/internal/scheduler"
	"github.com/mdingest/mdingest/internal/store"
)

// newTradeCapture builds one exchange's trade capture: each symbol
// polled on its own clock, at most every medium tick (the tier trades
// had), and as often as its trade rate needs. Each period's sums are a
// row of ops.job_runs, job trades/<exchange>. With Redis, a lease keeps
// it to one instance at a time.
func newTradeCapture(cfg config.Config, id string, c *Client, p *ingest.Pipeline, st *store.Store, checker *quality.Checker,
	rec jobRecorder, rdb redis.Scripter, logger *slog.Logger) (func(context.Context) error, error) {
	o := ingest.TradeOptions{
		Log: st, Checker: checker, MaxInterval: cfg.Jobs.Medium.D(), Concurrency: cfg.Exchanges[id].Concurrency,
		Report: func(ctx context.Context, r ingest.CaptureReport) {
			run := scheduler.Run{Job: "trades/" + id, Exchange: id, Started: r.Started, Finished: r.Finished,
				Outcome: scheduler.OK, Rows: r.Rows, Err: r.Err}
			if r.Err != nil {
				run.Outcome = scheduler.Error
			}
			rec.JobRan(ctx, run)
		},
	}
	if pg, ok := exchange.PagerOf(c); ok {
		o.Pager = pg
	}
	var lease *tradeLease
	if rdb != nil {
		lease = &tradeLease{client: redislock.New(rdb), key: "mdingest:lock:trades-capture/" + id, ttl: 15 * time.Second,
			logger: logger.With("component", "trades", "exchange", id)}
		o.Lease = lease
	}
	tc, err := p.NewTradeCapture(o)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if lease != nil {
			done := make(chan struct{})
			defer func() { <-done }()
			go func() { defer close(done); lease.keep(ctx) }()
		}
		return tc.Run(ctx)
	}, nil
}

// Unwrap is the connector the client wraps, so that optional interfaces
// (exchange.TradePager) can be found through it.
func (c *Client) Unwrap() exchange.Connector { return c.Connector }

// tradeLease is a Redis lock renewed while held: one instance captures an
// exchange's trades, another takes over within the TTL when it stops.
// When Redis is unreachable every instance captures: writes are
// idempotent, so that costs requests, not data.
type tradeLease struct {
	client *redislock.Client
	key    string
	ttl    time.Duration
	logger *slog.Logger

	mu   sync.Mutex
	lock *redislock.Lock
	held bool
	next time.Time // when to ask Redis again
}

// Held implements ingest.Lease. It asks Redis at most every third of the
// TTL; keep renews it in between.
func (l *tradeLease) Held(ctx context.Context) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Before(l.next) {
		return l.held
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var err error
	if l.lock != nil {
		if err = l.lock.Refresh(rctx, l.ttl, nil); err != nil {
			l.lock = nil
		}
	}
	if l.lock == nil && (err == nil || errors.Is(err, redislock.ErrNotObtained)) {
		l.lock, err = l.client.Obtain(rctx, l.key, l.ttl, nil)
	}
	switch {
	case err == nil:
		l.held = true
	case errors.Is(err, redislock.ErrNotObtained):
		l.held = false
	case ctx.Err() != nil:
		return false
	default:
		l.logger.Warn("trade capture lease unavailable, capturing here", "err", err)
		l.held = true
	}
	l.next = now.Add(l.ttl / 3)
	return l.held
}

// keep renews the lease until ctx ends, then releases it so that another
// instance takes over at once.
func (l *tradeLease) keep(ctx context.Context) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		l.Held(ctx)
		select {
		case <-ctx.Done():
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.lock != nil {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				defer cancel()
				_ = l.lock.Release(rctx)
				l.lock, l.held = nil, false
			}
			return
		case <-t.C:
		}
	}
}
