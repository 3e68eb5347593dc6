package cache

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultProbeInterval is how often Run checks whether Redis is back.
const DefaultProbeInterval = 5 * time.Second

// FallbackOptions configure a Fallback.
type FallbackOptions struct {
	ProbeInterval time.Duration         // DefaultProbeInterval when <= 0
	Logger        *slog.Logger          // nil: discarded
	Registerer    prometheus.Registerer // nil: metrics not registered
}

// Fallback serves from Redis and, once Redis fails as unreachable, from an
// in-process Memory backend: reads and writes go there until a probe finds
// Redis answering again, then back to Redis, without a restart. Values
// written during the outage stay in memory only (they are short-lived);
// the memory is purged on the way back so a later outage starts empty
// rather than with stale values. It is safe for concurrent use.
type Fallback struct {
	redis      *Redis
	mem        *Memory
	probeEvery time.Duration
	log        *slog.Logger
	down       atomic.Bool
	switches   *prometheus.CounterVec
	active     prometheus.Gauge
}

// NewFallback returns a Fallback serving from r first.
func NewFallback(r *Redis, m *Memory, opts FallbackOptions) (*Fallback, error) {
	f := &Fallback{redis: r, mem: m, probeEvery: opts.ProbeInterval, log: opts.Logger}
	if f.probeEvery <= 0 {
		f.probeEvery = DefaultProbeInterval
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.log = f.log.With("component", "cache")
	f.switches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cache_fallbacks_total", Help: "Cache backend switches, by the backend switched to (memory, redis).",
	}, []string{"to"})
	f.active = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cache_fallback_active", Help: "1 while the cache serves from memory because Redis is unreachable.",
	})
	if err := register(opts.Registerer, f.switches, f.active); err != nil {
		return nil, err
	}
	return f, nil
}

// Name is the backend in use: "redis" or "memory".
func (f *Fallback) Name() string {
	if f.down.Load() {
		return f.mem.Name()
	}
	return f.redis.Name()
}

// Set writes to Redis, or to memory while Redis is unreachable.
func (f *Fallback) Set(ctx context.Context, entries []Entry) error {
	if !f.down.Load() {
		err := f.redis.Set(ctx, entries)
		if !unavailable(ctx, err) {
			return err
		}
		f.toMemory(err)
	}
	return f.mem.Set(ctx, entries)
}

// Get reads from Redis, or from memory while Redis is unreachable.
func (f *Fallback) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if !f.down.Load() {
		b, ok, err := f.redis.Get(ctx, key)
		if !unavailable(ctx, err) {
			return b, ok, err
		}
		f.toMemory(err)
	}
	return f.mem.Get(ctx, key)
}

// Update updates in Redis, or in memory while Redis is unreachable.
func (f *Fallback) Update(ctx context.Context, key string, fn UpdateFunc) error {
	if !f.down.Load() {
		err := f.redis.Update(ctx, key, fn)
		if !unavailable(ctx, err) {
			return err
		}
		f.toMemory(err)
	}
	return f.mem.Update(ctx, key, fn)
}

// Publish publishes through Redis; while Redis is unreachable there are no
// subscribers to reach, so messages are dropped.
func (f *Fallback) Publish(ctx context.Context, msgs []Message) error {
	if !f.down.Load() {
		err := f.redis.Publish(ctx, msgs)
		if !unavailable(ctx, err) {
			return err
		}
		f.toMemory(err)
	}
	return f.mem.Publish(ctx, msgs)
}

func (f *Fallback) toMemory(err error) {
	if f.down.CompareAndSwap(false, true) {
		f.log.Warn("redis unreachable, caching in memory until it answers again", "error", err)
		f.switches.WithLabelValues(f.mem.Name()).Inc()
		f.active.Set(1)
	}
}

// Probe pings Redis while serving from memory and switches back when it
// answers. It returns the backend in use afterwards.
func (f *Fallback) Probe(ctx context.Context) string {
	if !f.down.Load() {
		return f.redis.Name()
	}
	if err := f.redis.Ping(ctx); err != nil {
		f.log.Debug("redis still unreachable", "error", err)
		return f.mem.Name()
	}
	if f.down.CompareAndSwap(true, false) {
		f.mem.Purge()
		f.log.Info("redis answers again, caching in redis")
		f.switches.WithLabelValues(f.redis.Name()).Inc()
		f.active.Set(0)
	}
	return f.redis.Name()
}

// Run probes every ProbeInterval until ctx ends; without it a Fallback
// that switched to memory stays there.
func (f *Fallback) Run(ctx context.Context) error {
	t := time.NewTicker(f.probeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, f.probeEvery)
			f.Probe(pctx)
			cancel()
		}
	}
}
