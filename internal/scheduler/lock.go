package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/bsm/redislock"
	"github.com/go-co-op/gocron/v2"
	"github.com/redis/go-redis/v9"
)

// redisLocker makes a job run once per tick across instances. Ticks are
// windows of the job's interval aligned on the wall clock, so every
// instance computes the same key for the same tick; the first to take it
// runs, the others skip. The lock is kept (not released) after the run
// until it expires at the end of the tick, so an instance firing later in
// the same tick does not run the job again.
type redisLocker struct {
	client  *redislock.Client
	prefix  string
	logger  *slog.Logger
	metrics *metrics
}

func newRedisLocker(rdb redis.UniversalClient, prefix string, logger *slog.Logger, m *metrics) *redisLocker {
	return &redisLocker{client: redislock.New(rdb), prefix: prefix, logger: logger, metrics: m}
}

// forJob returns the gocron Locker of one job (it needs the interval).
func (l *redisLocker) forJob(js *jobState) *jobLocker { return &jobLocker{l: l, js: js} }

type jobLocker struct {
	l  *redisLocker
	js *jobState
}

// lockTTL covers the rest of the tick plus a margin for clock differences
// between instances, and stays shorter than the interval.
func lockTTL(now time.Time, iv time.Duration) time.Duration {
	end := now.Truncate(iv).Add(iv)
	margin := min(iv/4, 2*time.Second)
	return min(end.Sub(now)+margin, iv-time.Millisecond)
}

// Lock implements gocron.Locker; key is the job name.
func (jl *jobLocker) Lock(ctx context.Context, key string) (gocron.Lock, error) {
	lock, err := jl.obtain(ctx, time.Now())
	if err != nil {
		return nil, err
	}
	return &tickLock{lock: lock, js: jl.js}, nil
}

// obtain takes the tick of now for the job. A nil lock with a nil error
// means Redis was unreachable and the job runs here anyway.
func (jl *jobLocker) obtain(ctx context.Context, now time.Time) (*redislock.Lock, error) {
	iv := jl.js.interval
	tick := now.Truncate(iv)
	key := jl.l.prefix + jl.js.job.Name + ":" + strconv.FormatInt(tick.UnixMilli(), 10)
	octx, cancel := context.WithTimeout(ctx, min(iv/4, 2*time.Second))
	defer cancel()
	lock, err := jl.l.client.Obtain(octx, key, lockTTL(now, iv), &redislock.Options{RetryStrategy: redislock.NoRetry()})
	switch {
	case err == nil:
		jl.js.lockedTick.Store(tick.UnixMilli())
		return lock, nil
	case errors.Is(err, redislock.ErrNotObtained):
		jl.l.metrics.lockContended.WithLabelValues(jl.js.job.Name).Inc()
		return nil, err
	case ctx.Err() != nil:
		return nil, ctx.Err() // shutting down
	}
	// Redis is unreachable: run here rather than nowhere. Writes are
	// idempotent, so a tick run by several instances costs requests, not
	// correctness.
	jl.l.metrics.lockErrors.Inc()
	jl.l.logger.Warn("distributed lock unavailable, running locally", "job", jl.js.job.Name, "err", err)
	jl.js.lockedTick.Store(tick.UnixMilli())
	return nil, nil
}

// holds reports whether this instance may start the job in tick: gocron
// took the lock before jitter and the exchange's semaphore, and when the
// wait crossed into the next tick, that tick must be taken too.
func (jl *jobLocker) holds(ctx context.Context, tick time.Time) bool {
	if jl.js.lockedTick.Load() == tick.UnixMilli() {
		return true
	}
	_, err := jl.obtain(ctx, tick)
	return err == nil
}

type tickLock struct {
	lock *redislock.Lock // nil when Redis was unreachable
	js   *jobState
}

// Unlock releases the tick only if the job skipped it (dependency or
// backoff), so another instance may use it; a tick that ran stays taken.
func (t *tickLock) Unlock(ctx context.Context) error {
	if !t.js.unused.Swap(false) || t.lock == nil {
		return nil
	}
	if err := t.lock.Release(ctx); err != nil && !errors.Is(err, redislock.ErrLockNotHeld) {
		return err
	}
	return nil
}
