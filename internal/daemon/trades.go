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
// row of ops.job_runs, job trades/<exchange>. A lease, in PostgreSQL and
// in Redis, keeps it to one instance at a time.
func newTradeCapture(cfg config.Config, id string, c *Client, p *ingest.Pipeline, st *store.Store, checker *quality.Checker,
	rec jobRecorder, rdb redis.Scripter, pg leaseLocker, logger *slog.Logger) (func(context.Context) error, error) {
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
	if rdb != nil || pg != nil {
		lease = &tradeLease{pg: pg, key: "trades-capture/" + id, ttl: 15 * time.Second,
			logger: logger.With("component", "trades", "exchange", id)}
		if rdb != nil {
			lease.redis = redislock.New(rdb)
		}
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

// leaseLocker holds a lease for as long as the process asks
// (*store.TickLocks: a PostgreSQL advisory lock on a session of its own).
type leaseLocker interface {
	Lease(ctx context.Context, key string) (bool, error)
	ReleaseLease(key string)
}

// tradeLease keeps an exchange's trade capture to one instance: a
// PostgreSQL advisory lock and a Redis lock, renewed while held; another
// instance takes over within the TTL when it stops. Either one held by
// another instance is enough to stand aside, so Redis down or absent does
// not double the capture (and its requests). Only when neither answers
// does every instance capture: writes are idempotent, so that costs
// requests, not data.
type tradeLease struct {
	redis  *redislock.Client // nil without Redis
	pg     leaseLocker       // nil without one
	key    string
	ttl    time.Duration
	logger *slog.Logger

	mu   sync.Mutex
	lock *redislock.Lock
	held bool
	next time.Time // when to ask again
}

// Held implements ingest.Lease. It asks at most every third of the TTL;
// keep renews it in between.
func (l *tradeLease) Held(ctx context.Context) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Before(l.next) {
		return l.held
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	held, ok := l.take(rctx)
	if !ok && ctx.Err() != nil {
		return false
	}
	l.held = held
	l.next = now.Add(l.ttl / 3)
	return l.held
}

// take asks PostgreSQL first, then Redis: the same order on every
// instance, so two never hold one half each. ok is false when the answer
// came from a cancelled context.
func (l *tradeLease) take(ctx context.Context) (held, ok bool) {
	pgHeld := false
	if l.pg != nil {
		taken, err := l.pg.Lease(ctx, l.key)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return false, false
			}
			l.logger.Warn("trade capture lease unavailable in postgres", "err", err)
		case !taken:
			l.releaseRedis(ctx)
			return false, true
		default:
			pgHeld = true
		}
	}
	if l.redis != nil {
		var err error
		if l.lock != nil {
			if err = l.lock.Refresh(ctx, l.ttl, nil); err != nil {
				l.lock = nil
			}
		}
		if l.lock == nil && (err == nil || errors.Is(err, redislock.ErrNotObtained)) {
			l.lock, err = l.redis.Obtain(ctx, "mdingest:lock:"+l.key, l.ttl, nil)
		}
		switch {
		case errors.Is(err, redislock.ErrNotObtained):
			if pgHeld {
				l.pg.ReleaseLease(l.key)
			}
			return false, true
		case err != nil && ctx.Err() != nil:
			return false, false
		case err != nil:
			l.logger.Warn("trade capture lease unavailable in redis", "err", err)
		}
	}
	return true, true
}

func (l *tradeLease) releaseRedis(ctx context.Context) {
	if l.lock != nil {
		_ = l.lock.Release(ctx)
		l.lock = nil
	}
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
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			l.releaseRedis(rctx)
			if l.pg != nil {
				l.pg.ReleaseLease(l.key)
			}
			l.held = false
			return
		case <-t.C:
		}
	}
}
