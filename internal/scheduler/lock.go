package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bsm/redislock"
	"github.com/go-co-op/gocron/v2"
	"github.com/redis/go-redis/v9"
)

// TickLocker takes one tick of one job for this instance, among all the
// instances that share it: the Redis lock below, and PostgreSQL advisory
// locks (store.TickLocks), which every instance reaches too.
type TickLocker interface {
	// TryLock holds key for this instance until until. taken is false
	// when another instance holds it; an error means the locker could not
	// tell (unreachable). release gives the key up early.
	TryLock(ctx context.Context, key string, until time.Time) (release func(context.Context) error, taken bool, err error)
	// Name names the locker in logs ("redis", "postgres").
	Name() string
}

// errNotObtained: another instance holds the tick.
var errNotObtained = errors.New("tick taken by another instance")

// tickLocks makes a job run once per tick across instances. Ticks are
// windows of the job's interval aligned on the wall clock, so every
// instance computes the same key for the same tick; the first to take it
// runs, the others skip. The key is kept (not released) after the run
// until the end of the tick, so an instance firing later in the same tick
// does not run the job again.
//
// Every locker is asked, and any that says "taken" wins: with Redis down
// the database decides, with the database down Redis does, and an
// instance that reaches only one of them still defers to an instance that
// took the tick through it. With no locker answering, the job runs here
// anyway: writes are idempotent, so a tick run by several instances costs
// requests, not correctness.
type tickLocks struct {
	lockers []TickLocker
	failing []atomic.Bool // per locker: the last attempt failed (logged once per outage)
	prefix  string
	logger  *slog.Logger
	metrics *metrics
}

func newTickLocks(lockers []TickLocker, prefix string, logger *slog.Logger, m *metrics) *tickLocks {
	return &tickLocks{lockers: lockers, failing: make([]atomic.Bool, len(lockers)), prefix: prefix, logger: logger, metrics: m}
}

// forJob returns the gocron Locker of one job (it needs the interval).
func (l *tickLocks) forJob(js *jobState) *jobLocker { return &jobLocker{l: l, js: js} }

type jobLocker struct {
	l  *tickLocks
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
func (jl *jobLocker) Lock(ctx context.Context, _ string) (gocron.Lock, error) {
	release, err := jl.obtain(ctx, time.Now())
	if err != nil {
		return nil, err
	}
	return &tickLock{release: release, js: jl.js}, nil
}

// obtain takes the tick of now for the job from every locker. It fails
// when another instance has it; it succeeds, running here, when no locker
// answers.
func (jl *jobLocker) obtain(ctx context.Context, now time.Time) (release func(context.Context), err error) {
	iv := jl.js.interval
	tick := now.Truncate(iv)
	key := jl.l.prefix + jl.js.job.Name + ":" + strconv.FormatInt(tick.UnixMilli(), 10)
	until := now.Add(lockTTL(now, iv))
	var held []func(context.Context) error
	release = func(ctx context.Context) {
		for _, r := range held {
			_ = r(ctx)
		}
	}
	answered := false
	for i, lk := range jl.l.lockers {
		octx, cancel := context.WithTimeout(ctx, min(iv/4, 2*time.Second))
		rel, taken, err := lk.TryLock(octx, key, until)
		cancel()
		switch {
		case err == nil && taken:
			held = append(held, rel)
			answered = true
			if jl.l.failing[i].Swap(false) {
				jl.l.logger.Info("tick lock service reachable again", "locker", lk.Name())
			}
		case err == nil:
			release(context.WithoutCancel(ctx))
			jl.l.metrics.lockContended.WithLabelValues(jl.js.job.Name).Inc()
			return nil, errNotObtained
		case ctx.Err() != nil:
			release(context.WithoutCancel(ctx))
			return nil, ctx.Err() // shutting down
		default:
			jl.l.metrics.lockErrors.WithLabelValues(lk.Name()).Inc()
			if !jl.l.failing[i].Swap(true) {
				jl.l.logger.Warn("tick lock service unavailable, using the others", "locker", lk.Name(), "err", err)
			}
		}
	}
	if !answered {
		jl.l.metrics.lockUnavailable.Inc()
		jl.l.logger.Warn("no tick lock service reachable, running locally", "job", jl.js.job.Name)
	}
	jl.js.lockedTick.Store(tick.UnixMilli())
	return release, nil
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
	release func(context.Context)
	js      *jobState
}

// Unlock releases the tick only if the job skipped it (dependency or
// backoff), so another instance may use it; a tick that ran stays taken.
func (t *tickLock) Unlock(ctx context.Context) error {
	if t.js.unused.Swap(false) {
		t.release(ctx)
	}
	return nil
}

// redisLocker is a TickLocker over Redis (bsm/redislock): keys expire at
// the end of their tick.
type redisLocker struct{ client *redislock.Client }

// NewRedisLocker returns the Redis TickLocker.
func NewRedisLocker(rdb redis.UniversalClient) TickLocker {
	return redisLocker{client: redislock.New(rdb)}
}

func (redisLocker) Name() string { return "redis" }

func (r redisLocker) TryLock(ctx context.Context, key string, until time.Time) (func(context.Context) error, bool, error) {
	ttl := time.Until(until)
	if ttl <= 0 {
		ttl = time.Millisecond
	}
	lock, err := r.client.Obtain(ctx, key, ttl, &redislock.Options{RetryStrategy: redislock.NoRetry()})
	switch {
	case err == nil:
		return func(ctx context.Context) error {
			if err := lock.Release(ctx); err != nil && !errors.Is(err, redislock.ErrLockNotHeld) {
				return fmt.Errorf("releasing tick lock: %w", err)
			}
			return nil
		}, true, nil
	case errors.Is(err, redislock.ErrNotObtained):
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("taking tick lock in redis: %w", err)
}
