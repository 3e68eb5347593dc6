// Package ratelimit keeps one exchange's request budget: a token bucket
// (golang.org/x/time/rate) for pacing, a fixed accounting window checked
// against what the exchange itself reports, a freeze for bans and
// Retry-After, and a priority queue in front of them so that urgent
// requests go first without starving the rest. The window budget and the
// freeze can be shared through Redis by several processes on one IP.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Defaults for Options.
const (
	DefaultAgingStep     = 5 * time.Second
	DefaultKeyPrefix     = "mdingest:ratelimit"
	DefaultSharedTimeout = 250 * time.Millisecond
	// sharedRetryAfter is how long the limiter stays local-only after a
	// Redis error before it tries the shared state again.
	sharedRetryAfter = 10 * time.Second
)

// ErrInvalidOptions is returned by New for an unusable configuration.
var ErrInvalidOptions = errors.New("invalid rate limiter options")

// Options configures a Limiter. Costs and Limit are in the exchange's own
// unit (Binance weight, Kraken calls, KuCoin points, ...).
type Options struct {
	// Exchange labels metrics and names the shared Redis keys. Required.
	Exchange string
	// Limit is the number of units allowed per Window. Zero means no limit:
	// only freezes apply.
	Limit float64
	// Window is the exchange's accounting window, e.g. one minute for
	// Binance's X-MBX-USED-WEIGHT-1M. Windows are aligned to the Unix epoch,
	// as the exchanges' fixed windows are. Required when Limit > 0.
	Window time.Duration
	// Burst is the number of units that may be spent at once. Zero: one
	// second's worth of Limit/Window, at least 1. A request costing more than
	// Burst is charged Burst, since it could never pass otherwise.
	Burst int
	// AgingStep is how long a waiting request takes to rise one priority
	// level, so that low priorities still make progress under sustained
	// high-priority load. Zero: DefaultAgingStep; negative: no aging.
	AgingStep time.Duration

	// Shared, when set (and Limit > 0), holds the window budget and the
	// freeze in Redis so that several processes on one IP stay within one
	// budget. On Redis errors the limiter carries on with local state, logs
	// once, and tries Redis again after a pause.
	Shared redis.Scripter
	// KeyPrefix prefixes the Redis keys: {prefix}:{exchange}:used:{window}
	// and {prefix}:{exchange}:frozen_until. Default DefaultKeyPrefix.
	KeyPrefix string
	// SharedTimeout bounds each Redis call. Default DefaultSharedTimeout.
	SharedTimeout time.Duration

	Clock      clockwork.Clock       // nil: the real clock
	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: metrics are not registered
}

// waiter is one Wait call in the queue.
type waiter struct {
	prio    Priority
	cost    int
	seq     uint64
	queued  time.Time
	ready   chan struct{} // closed once granted
	granted bool
}

// Limiter is one exchange's budget. Safe for concurrent use.
type Limiter struct {
	exchange string
	limit    float64
	window   time.Duration
	burst    int
	aging    time.Duration
	clock    clockwork.Clock
	log      *slog.Logger
	m        *metrics
	shared   *shared // nil: local only

	// Metric handles for this exchange, resolved once.
	depth     [len(priorities)]prometheus.Gauge
	waited    [len(priorities)]prometheus.Observer
	usedGauge prometheus.Gauge

	mu          sync.Mutex
	bucket      *rate.Limiter // nil when unlimited
	queue       []*waiter
	seq         uint64
	timer       clockwork.Timer // wakes the dispatcher when the head may go
	frozenUntil time.Time
	winIdx      int64   // index of the current window since the epoch
	winUsed     float64 // units used in the current window, as far as we know
}

// New returns a Limiter for one exchange.
func New(opts Options) (*Limiter, error) {
	switch {
	case opts.Exchange == "":
		return nil, fmt.Errorf("%w: exchange is required", ErrInvalidOptions)
	case opts.Limit < 0 || math.IsNaN(opts.Limit) || math.IsInf(opts.Limit, 0):
		return nil, fmt.Errorf("%w: %s: limit %v must be a finite number >= 0", ErrInvalidOptions, opts.Exchange, opts.Limit)
	case opts.Limit > 0 && opts.Window <= 0:
		return nil, fmt.Errorf("%w: %s: window must be > 0 with a limit", ErrInvalidOptions, opts.Exchange)
	case opts.Burst < 0:
		return nil, fmt.Errorf("%w: %s: burst %d must be >= 0", ErrInvalidOptions, opts.Exchange, opts.Burst)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("registering rate limiter metrics: %w", err)
	}
	l := &Limiter{
		exchange: opts.Exchange,
		limit:    opts.Limit,
		window:   opts.Window,
		burst:    opts.Burst,
		aging:    opts.AgingStep,
		clock:    opts.Clock,
		log:      opts.Logger,
		m:        m,
	}
	if l.clock == nil {
		l.clock = clockwork.NewRealClock()
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.log = l.log.With("component", "ratelimit", "exchange", opts.Exchange)
	if l.aging == 0 {
		l.aging = DefaultAgingStep
	}
	if opts.Limit > 0 {
		perSecond := opts.Limit / opts.Window.Seconds()
		if l.burst == 0 {
			l.burst = max(1, int(math.Ceil(perSecond)))
		}
		l.bucket = rate.NewLimiter(rate.Limit(perSecond), l.burst)
		l.winIdx = l.windowIndex(l.clock.Now())
	}
	if opts.Shared != nil && opts.Limit > 0 {
		l.shared = newShared(opts, l.clock)
	}
	for _, p := range priorities {
		l.depth[p] = l.m.queueDepth.WithLabelValues(l.exchange, p.String())
		l.depth[p].Set(0)
		l.waited[p] = l.m.waitSeconds.WithLabelValues(l.exchange, p.String())
	}
	l.usedGauge = l.m.windowUsed.WithLabelValues(l.exchange)
	return l, nil
}

// Exchange returns the exchange this limiter is for.
func (l *Limiter) Exchange() string { return l.exchange }

// Wait blocks until cost units may be spent, or ctx ends. The request's
// priority comes from ctx (WithPriority; Medium by default). When the budget
// is short, waiting requests are served highest priority first, then oldest
// first; a waiting request rises one level per AgingStep.
func (l *Limiter) Wait(ctx context.Context, cost int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &waiter{prio: PriorityFrom(ctx), cost: l.clampCost(cost), ready: make(chan struct{})}

	l.mu.Lock()
	w.queued = l.clock.Now()
	l.seq++
	w.seq = l.seq
	l.queue = append(l.queue, w)
	l.depth[w.prio].Inc()
	l.dispatchLocked()
	l.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted {
		// Granted while the context ended: the budget is already spent, so
		// report success and let the caller's next step see the context.
		return nil
	}
	if i := slices.Index(l.queue, w); i >= 0 {
		l.removeLocked(i)
	}
	l.dispatchLocked()
	return ctx.Err()
}

// Observe corrects the budget with what the exchange reports: used units in
// the window containing at (e.g. Binance's X-MBX-USED-WEIGHT-1M). The local
// count becomes max(local, used), so it never overestimates what remains.
func (l *Limiter) Observe(used float64, at time.Time) {
	if l.bucket == nil || used <= 0 || math.IsNaN(used) || math.IsInf(used, 0) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rollLocked(l.clock.Now())
	if l.windowIndex(at) != l.winIdx {
		return // a report about another window says nothing about this one
	}
	if used > l.winUsed {
		l.winUsed = used
		l.usedGauge.Set(used)
	}
	if l.shared != nil && l.shared.usable(l.clock.Now()) {
		l.sharedResultLocked(l.shared.observe(l.winIdx, math.Ceil(used), l.windowEnd()))
	}
}

// Freeze stops all spending on this exchange until the given time (a 418
// ban, a 429 with Retry-After). An earlier time than a freeze already in
// force changes nothing.
func (l *Limiter) Freeze(until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until.After(l.frozenUntil) {
		l.frozenUntil = until
		l.m.frozenUntil.WithLabelValues(l.exchange).Set(float64(until.UnixMilli()) / 1e3)
		l.log.Debug("exchange frozen", "until", until)
	}
	if l.shared != nil && l.shared.usable(l.clock.Now()) {
		l.sharedResultLocked(l.shared.freeze(until))
	}
	l.dispatchLocked()
}

// FrozenUntil returns the end of the freeze in force, as known locally; the
// zero time or a past time means not frozen.
func (l *Limiter) FrozenUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.frozenUntil
}

// Used returns the units known to be used in the current window.
func (l *Limiter) Used() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bucket == nil {
		return 0
	}
	l.rollLocked(l.clock.Now())
	return l.winUsed
}

// Waiting returns the number of requests waiting for budget.
func (l *Limiter) Waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

func (l *Limiter) clampCost(cost int) int {
	cost = max(cost, 1)
	if l.bucket != nil {
		cost = min(cost, l.burst)
	}
	return cost
}

// dispatchLocked grants waiters in priority order for as long as the budget
// allows, then arms the timer for when the next one may go. It is called
// whenever the queue, the freeze or the time changes.
func (l *Limiter) dispatchLocked() {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	for len(l.queue) > 0 {
		now := l.clock.Now()
		i := l.nextLocked(now)
		w := l.queue[i]
		// Strict order: if the best waiter cannot go, nobody does, so a
		// large high-priority request is not overtaken by small ones.
		if d := l.tryTakeLocked(now, w.cost); d > 0 {
			l.timer = l.clock.AfterFunc(d, l.wake)
			return
		}
		l.removeLocked(i)
		l.waited[w.prio].Observe(now.Sub(w.queued).Seconds())
		w.granted = true
		close(w.ready)
	}
}

func (l *Limiter) wake() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dispatchLocked()
}

// nextLocked returns the index of the waiter to serve next: highest
// effective priority, then oldest.
func (l *Limiter) nextLocked(now time.Time) int {
	best := 0
	bestPrio := l.effective(l.queue[0], now)
	for i, w := range l.queue[1:] {
		p := l.effective(w, now)
		if p > bestPrio || (p == bestPrio && w.seq < l.queue[best].seq) {
			best, bestPrio = i+1, p
		}
	}
	return best
}

// effective is the waiter's priority raised by one level per AgingStep
// waited, up to Critical; among equals the oldest wins, so an aged low
// priority request overtakes newer critical ones.
func (l *Limiter) effective(w *waiter, now time.Time) Priority {
	p := w.prio
	if l.aging > 0 {
		p += Priority(now.Sub(w.queued) / l.aging)
	}
	return min(p, Critical)
}

func (l *Limiter) removeLocked(i int) {
	w := l.queue[i]
	l.queue = slices.Delete(l.queue, i, i+1)
	l.depth[w.prio].Dec()
}

// tryTakeLocked spends cost units if the local state and then the shared
// state allow it, returning 0; otherwise it returns how long to wait.
func (l *Limiter) tryTakeLocked(now time.Time, cost int) time.Duration {
	if d := l.localWaitLocked(now, cost); d > 0 {
		return d
	}
	if l.shared != nil && l.shared.usable(now) {
		res, err := l.shared.take(l.winIdx, cost, l.limit, now, l.windowEnd())
		if err == nil && res.wait == 0 {
			res.used -= float64(cost) // ours, added below
		}
		l.sharedResultLocked(res, err)
		if err == nil && res.wait > 0 {
			return res.wait
		}
	}
	if l.bucket != nil {
		l.winUsed += float64(cost)
		l.usedGauge.Set(l.winUsed)
		// ReserveN, not AllowN: the check above already allowed for float
		// rounding, so a deficit of a few nanotokens must not refuse.
		l.bucket.ReserveN(now, cost)
	}
	return 0
}

// tokenSlack absorbs float rounding in the token bucket, so that a timer
// armed for exactly the time the tokens need does not fire a hair early.
const tokenSlack = 1e-9

// localWaitLocked is how long cost must wait given the freeze, the window
// budget and the token bucket; 0 means it may go now.
func (l *Limiter) localWaitLocked(now time.Time, cost int) time.Duration {
	var d time.Duration
	if now.Before(l.frozenUntil) {
		d = l.frozenUntil.Sub(now)
	}
	if l.bucket == nil {
		return d
	}
	l.rollLocked(now)
	// One request may always open an empty window, even if it costs more
	// than the whole budget; otherwise it could never run.
	if l.winUsed > 0 && l.winUsed+float64(cost) > l.limit {
		d = max(d, l.windowEnd().Sub(now))
	}
	if tokens := l.bucket.TokensAt(now); tokens < float64(cost)-tokenSlack {
		need := (float64(cost) - tokens) / float64(l.bucket.Limit())
		d = max(d, time.Duration(math.Ceil(need*float64(time.Second))))
	}
	return d
}

func (l *Limiter) windowIndex(t time.Time) int64 {
	return t.UnixNano() / int64(l.window)
}

func (l *Limiter) windowEnd() time.Time {
	return time.Unix(0, (l.winIdx+1)*int64(l.window))
}

// rollLocked starts a new window when now has left the current one.
func (l *Limiter) rollLocked(now time.Time) {
	if idx := l.windowIndex(now); idx > l.winIdx {
		l.winIdx, l.winUsed = idx, 0
		l.usedGauge.Set(0)
	}
}

// sharedResultLocked folds what Redis said into the local state, or notes
// that Redis failed.
func (l *Limiter) sharedResultLocked(res sharedResult, err error) {
	if err != nil {
		l.m.sharedErrors.WithLabelValues(l.exchange).Inc()
		if l.shared.fail(l.clock.Now()) {
			l.log.Warn("shared rate-limit state unavailable, using local state", "error", err)
		}
		return
	}
	if l.shared.recover() {
		l.log.Info("shared rate-limit state available again")
	}
	if res.used > l.winUsed && res.window == l.winIdx {
		l.winUsed = res.used
		l.usedGauge.Set(res.used)
	}
	if res.frozenUntil.After(l.frozenUntil) {
		l.frozenUntil = res.frozenUntil
		l.m.frozenUntil.WithLabelValues(l.exchange).Set(float64(res.frozenUntil.UnixMilli()) / 1e3)
	}
}
