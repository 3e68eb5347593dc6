// Package ratelimit keeps one exchange's request budget the way the
// exchange counts it: calendar windows on the exchange's own clock
// (Binance), rolling windows, or a token bucket (Coinbase). Each request
// holds a Ticket from its grant until its answer, and the answer settles
// it: the Date header says which of the server's windows counted it, and a
// usage header (X-MBX-USED-WEIGHT-1M) corrects the count up or down. A
// priority queue in front serves urgent requests first without starving
// the rest, and a reserve of the budget is kept for High and Critical
// requests. The budget and bans can be shared through Redis by the
// processes that send from one IP (one egress); without Redis each takes
// its share, 1/N of the budget for N processes on the egress.
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

	"github.com/mdingest/mdingest/internal/priority"
)

// Defaults for Options.
const (
	DefaultAgingStep     = 5 * time.Second
	DefaultKeyPrefix     = "mdingest:ratelimit"
	DefaultSharedTimeout = 250 * time.Millisecond
	// DefaultReserve is the share of the budget that Low and Medium
	// requests leave to High and Critical ones.
	DefaultReserve = 0.05
	// DefaultReserveRelease: this close to the moment the budget frees up
	// again (a fixed window's end, a rolling window's oldest requests
	// leaving it), the reserve is released to every priority, since a
	// critical request would not wait longer than this anyway.
	DefaultReserveRelease = 500 * time.Millisecond
	// sharedRetryAfter is how long the limiter stays local-only after a
	// Redis error before it tries the shared state again.
	sharedRetryAfter = 10 * time.Second
	// sharedPoll is how soon a waiter asks Redis again when only requests
	// in flight (possibly another process's) stand in its way: their
	// answers, which may free budget, are not announced.
	sharedPoll = 20 * time.Millisecond
	// forever stands for "no timer": only an answer can free budget.
	forever = time.Duration(math.MaxInt64)
)

// ErrInvalidOptions is returned by New for an unusable configuration.
var ErrInvalidOptions = errors.New("invalid rate limiter options")

// Options configures a Limiter. Costs and Limit are in the exchange's own
// unit (Binance weight, Kraken calls, KuCoin points, ...).
type Options struct {
	// Exchange labels metrics and names the shared Redis keys. Required.
	Exchange string
	// Kind is how the exchange counts: Fixed (default), Sliding or Bucket.
	Kind Kind
	// Limit is the number of units allowed per Window. Zero means no limit:
	// only freezes apply.
	Limit float64
	// Window is the exchange's accounting window, e.g. one minute for
	// Binance's X-MBX-USED-WEIGHT-1M. Required when Limit > 0.
	Window time.Duration
	// Burst, for Fixed and Sliding, is the number of units that may be
	// spent at once: requests are paced at Limit per Window with this much
	// slack. Zero: one second's worth, at least 1. For Bucket it is the
	// bucket's capacity; zero: Limit. A request costing more than Burst
	// goes when the whole burst is there.
	Burst int
	// Reserve is the share of the budget (0 to 0.5) that Low and Medium
	// requests leave to High and Critical ones, until ReserveRelease before
	// the budget frees up. Fixed and Sliding only: a bucket refills
	// continuously, so its waits are short anyway.
	Reserve float64
	// ReserveRelease: zero means DefaultReserveRelease.
	ReserveRelease time.Duration
	// AgingStep is how long a waiting request takes to rise one priority
	// level, so that low priorities still make progress under sustained
	// high-priority load. Zero: DefaultAgingStep; negative: no aging.
	AgingStep time.Duration

	// Shared, when set (and Limit > 0), holds the budget and the freeze in
	// Redis so that several processes sending from one IP stay within one
	// budget. On Redis errors the limiter carries on with local state and
	// its share of the budget (SetPeers), logs once, and tries Redis again
	// after a pause.
	Shared redis.Scripter
	// Egress names the IP the requests leave from: processes with the same
	// Egress share a budget, others keep their own. It namespaces the Redis
	// keys: {KeyPrefix}:{Egress}:{Exchange}:...
	Egress string
	// KeyPrefix prefixes the Redis keys. Default DefaultKeyPrefix.
	KeyPrefix string
	// SharedTimeout bounds each Redis call. Default DefaultSharedTimeout.
	SharedTimeout time.Duration

	Clock      clockwork.Clock       // nil: the real clock
	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: metrics are not registered
}

// Report is what an exchange's answer said about the budget.
type Report struct {
	// Date is the answer's Date header: the server's clock, which says the
	// window the request was counted in. Zero if there was none.
	Date time.Time
	// Used is the usage the exchange reported for its current window
	// (X-MBX-USED-WEIGHT-1M), when HasUsed.
	Used    float64
	HasUsed bool
}

// Ticket is one granted request. Finish it when its answer arrives (or
// when it failed without one): until then the request counts as in
// flight, which may be counted in the current window or the next.
type Ticket struct {
	l      *Limiter
	seq    uint64 // in the local accounts
	shared int64  // in the shared state; 0: not taken there
	cost   float64
	sent   time.Time
	done   bool // guarded by l.mu
}

// Finish settles the ticket with what the answer reported. A zero Report
// means nothing is known (no answer, or no headers). Calling Finish more
// than once, or on a nil Ticket, does nothing.
func (t *Ticket) Finish(r Report) {
	if t == nil || t.l == nil {
		return
	}
	t.l.finish(t, r)
}

// waiter is one Acquire call in the queue.
type waiter struct {
	prio    priority.Priority
	cost    int
	seq     uint64
	queued  time.Time
	ready   chan struct{} // closed once granted
	granted bool
	ticket  *Ticket
}

// floor is the last count the shared state gave, kept for when Redis
// fails: until the window moves on, the local count is at least that
// plus what this process granted since.
type floor struct {
	ok      bool
	win     int64     // Fixed: the window it is about
	at      time.Time // Sliding: it holds until at + Window
	est     float64
	granted float64 // Limiter.granted when it was taken
}

// Limiter is one exchange's budget. Safe for concurrent use.
type Limiter struct {
	exchange string
	kind     Kind
	limit    float64
	window   time.Duration
	burst    int
	reserve  float64 // in units
	release  time.Duration
	aging    time.Duration
	clock    clockwork.Clock
	log      *slog.Logger
	m        *metrics
	shared   *shared // nil: local only

	// Metric handles for this exchange, resolved once.
	depth       [len(priority.All)]prometheus.Gauge
	waited      [len(priority.All)]prometheus.Observer
	usedGauge   prometheus.Gauge
	peersGauge  prometheus.Gauge
	offsetGauge prometheus.Gauge

	mu          sync.Mutex
	pace        *rate.Limiter // Fixed and Sliding: spreads requests over the window
	queue       []*waiter
	seq         uint64
	tickets     uint64
	timer       clockwork.Timer // wakes the dispatcher when the head may go
	frozenUntil time.Time
	peers       int
	srv         serverClock
	cur         int64        // Fixed: the server's current window
	ip, own     *fixedLedger // Fixed: the IP's usage (with reports), ours alone
	slide       *slidingLog  // Sliding: ours
	bucket      *tokenBucket // Bucket: ours, at our share
	granted     float64      // units granted so far
	floor       floor
	holdUntil   time.Time // local accounts grant nothing before it (HoldLocal)
}

// New returns a Limiter for one exchange.
func New(opts Options) (*Limiter, error) {
	kind, err := ParseKind(string(opts.Kind))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, opts.Exchange)
	}
	switch {
	case opts.Exchange == "":
		return nil, fmt.Errorf("%w: exchange is required", ErrInvalidOptions)
	case opts.Limit < 0 || math.IsNaN(opts.Limit) || math.IsInf(opts.Limit, 0):
		return nil, fmt.Errorf("%w: %s: limit %v must be a finite number >= 0", ErrInvalidOptions, opts.Exchange, opts.Limit)
	case opts.Limit > 0 && opts.Window <= 0:
		return nil, fmt.Errorf("%w: %s: window must be > 0 with a limit", ErrInvalidOptions, opts.Exchange)
	case opts.Burst < 0:
		return nil, fmt.Errorf("%w: %s: burst %d must be >= 0", ErrInvalidOptions, opts.Exchange, opts.Burst)
	case !(opts.Reserve >= 0 && opts.Reserve <= 0.5):
		return nil, fmt.Errorf("%w: %s: reserve %v must be between 0 and 0.5", ErrInvalidOptions, opts.Exchange, opts.Reserve)
	case opts.ReserveRelease < 0:
		return nil, fmt.Errorf("%w: %s: reserve release must be >= 0", ErrInvalidOptions, opts.Exchange)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("registering rate limiter metrics: %w", err)
	}
	l := &Limiter{
		exchange: opts.Exchange,
		kind:     kind,
		limit:    opts.Limit,
		window:   opts.Window,
		burst:    opts.Burst,
		release:  cmpOr(opts.ReserveRelease, DefaultReserveRelease),
		aging:    cmpOr(opts.AgingStep, DefaultAgingStep),
		clock:    opts.Clock,
		log:      opts.Logger,
		m:        m,
		peers:    1,
	}
	if l.clock == nil {
		l.clock = clockwork.NewRealClock()
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.log = l.log.With("component", "ratelimit", "exchange", opts.Exchange)
	now := l.clock.Now()
	if l.limit > 0 {
		perSecond := l.limit / l.window.Seconds()
		switch kind {
		case Bucket:
			l.burst = cmpOr(l.burst, max(1, int(math.Ceil(l.limit))))
			l.bucket = newTokenBucket(perSecond, float64(l.burst), now)
		default:
			l.burst = cmpOr(l.burst, max(1, int(math.Ceil(perSecond))))
			l.pace = rate.NewLimiter(rate.Limit(perSecond), l.burst)
			l.reserve = opts.Reserve * l.limit
		}
		l.ip, l.own = newFixedLedger(true), newFixedLedger(false)
		l.slide = newSlidingLog(l.window)
		l.cur = l.windowIndex(now)
		if opts.Shared != nil {
			l.shared = newShared(opts)
		}
	}
	for _, p := range priority.All {
		l.depth[p] = l.m.queueDepth.WithLabelValues(l.exchange, p.String())
		l.depth[p].Set(0)
		l.waited[p] = l.m.waitSeconds.WithLabelValues(l.exchange, p.String())
	}
	l.usedGauge = l.m.windowUsed.WithLabelValues(l.exchange)
	l.m.windowLimit.WithLabelValues(l.exchange).Set(opts.Limit)
	l.peersGauge = l.m.peers.WithLabelValues(l.exchange)
	l.peersGauge.Set(1)
	l.offsetGauge = l.m.clockOffset.WithLabelValues(l.exchange)
	return l, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Exchange returns the exchange this limiter is for.
func (l *Limiter) Exchange() string { return l.exchange }

// Acquire blocks until cost units may be spent, or ctx ends, and returns
// the request's ticket. The request's priority comes from ctx
// (priority.With; Medium by default). When the budget is short, waiting
// requests are served highest priority first, then oldest first; a
// waiting request rises one level per AgingStep. Low and Medium requests
// leave the reserve to High and Critical ones.
func (l *Limiter) Acquire(ctx context.Context, cost int) (*Ticket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &waiter{prio: priority.From(ctx), cost: max(cost, 1), ready: make(chan struct{})}

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
		return w.ticket, nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted {
		// Granted while the context ended: the budget is already spent, so
		// report success and let the caller's next step see the context.
		return w.ticket, nil
	}
	if i := slices.Index(l.queue, w); i >= 0 {
		l.removeLocked(i)
	}
	l.dispatchLocked()
	return nil, ctx.Err()
}

// Wait is Acquire for a caller that learns nothing from the answer: the
// ticket is finished at once.
func (l *Limiter) Wait(ctx context.Context, cost int) error {
	t, err := l.Acquire(ctx, cost)
	if err != nil {
		return err
	}
	t.Finish(Report{})
	return nil
}

// Freeze stops all spending on this exchange until the given time (a 418
// ban, a 429 with Retry-After). An earlier time than a freeze already in
// force changes nothing.
func (l *Limiter) Freeze(until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.freezeLocked(until)
	if l.shared != nil && l.shared.usable(l.clock.Now()) {
		v, err := l.shared.freeze(l.clock.Now(), until)
		l.sharedResultLocked(err)
		if err == nil {
			l.freezeLocked(v)
		}
	}
	l.dispatchLocked()
}

func (l *Limiter) freezeLocked(until time.Time) {
	if until.After(l.frozenUntil) {
		l.frozenUntil = until
		l.m.frozenUntil.WithLabelValues(l.exchange).Set(float64(until.UnixMilli()) / 1e3)
		l.log.Debug("exchange frozen", "until", until)
	}
}

// FrozenUntil returns the end of the freeze in force, as known locally; the
// zero time or a past time means not frozen.
func (l *Limiter) FrozenUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.frozenUntil
}

// SetPeers tells the limiter how many processes (itself included) send
// from its egress. While the shared state is unavailable it keeps to a
// 1/n share of the budget, so that together they stay within it.
func (l *Limiter) SetPeers(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n = max(n, 1)
	if n == l.peers {
		return
	}
	l.peers = n
	l.peersGauge.Set(float64(n))
	if l.bucket != nil {
		l.bucket.setRate(l.limit/l.window.Seconds()/float64(n), max(float64(l.burst)/float64(n), 1), l.clock.Now())
	}
	l.log.Info("processes sharing the egress", "peers", n)
	l.dispatchLocked()
}

// HoldLocal makes the local accounts (used while the shared state is
// unavailable) grant nothing for d: a process joining an egress waits for
// the others there to learn of it and shrink their shares.
func (l *Limiter) HoldLocal(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until := l.clock.Now().Add(d); until.After(l.holdUntil) {
		l.holdUntil = until
	}
	l.dispatchLocked()
}

// ReleaseLocal ends a HoldLocal before its time: a process that learns it
// sends alone need not wait.
func (l *Limiter) ReleaseLocal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holdUntil = time.Time{}
	l.dispatchLocked()
}

// Peers returns the number of processes the limiter shares its egress
// with, itself included.
func (l *Limiter) Peers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peers
}

// Used returns the units known to be used: in the current window (Fixed,
// Sliding, including requests in flight), or taken from the bucket.
func (l *Limiter) Used() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limit == 0 {
		return 0
	}
	now := l.clock.Now()
	l.rollLocked(now)
	switch l.kind {
	case Fixed:
		est, _ := l.fixedEstLocked()
		return est
	case Sliding:
		est, _ := l.slidingEstLocked(now, now)
		return est
	default:
		return max(l.bucket.burst-l.bucket.level(now), 0)
	}
}

// Waiting returns the number of requests waiting for budget.
func (l *Limiter) Waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

// dispatchLocked grants waiters in priority order for as long as the budget
// allows, then arms the timer for when the next one may go. It is called
// whenever the queue, the freeze, the budget or the time changes.
func (l *Limiter) dispatchLocked() {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	for len(l.queue) > 0 {
		now := l.clock.Now()
		l.rollLocked(now)
		wait, granted, reserved := forever, false, false
		for _, i := range l.orderLocked(now) {
			w := l.queue[i]
			if reserved && w.prio < priority.High {
				continue // the reserve that stopped one Low or Medium stops them all
			}
			d, reserveOnly := l.tryTakeLocked(now, w)
			if d <= 0 {
				l.removeLocked(i)
				l.waited[w.prio].Observe(now.Sub(w.queued).Seconds())
				w.granted = true
				close(w.ready)
				granted = true
				break
			}
			wait = min(wait, d)
			// Strict order: if the best waiter cannot go, nobody does, so a
			// large high-priority request is not overtaken by small ones.
			// Only the reserve, which stops Low and Medium alone, lets the
			// next in line try.
			if !reserveOnly {
				break
			}
			reserved = true
		}
		if !granted {
			if wait < forever {
				l.timer = l.clock.AfterFunc(wait, l.wake)
			}
			return
		}
	}
}

func (l *Limiter) wake() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dispatchLocked()
}

// orderLocked returns the queue's indices in serving order: highest
// effective priority, then oldest.
func (l *Limiter) orderLocked(now time.Time) []int {
	idx := make([]int, len(l.queue))
	eff := make([]priority.Priority, len(l.queue))
	for i, w := range l.queue {
		idx[i], eff[i] = i, l.effective(w, now)
	}
	slices.SortFunc(idx, func(a, b int) int {
		if eff[a] != eff[b] {
			return int(eff[b] - eff[a])
		}
		return int(l.queue[a].seq - l.queue[b].seq)
	})
	return idx
}

// effective is the waiter's priority raised by one level per AgingStep
// waited, up to Critical; among equals the oldest wins, so an aged low
// priority request overtakes newer critical ones. The reserve still goes
// by the waiter's own priority.
func (l *Limiter) effective(w *waiter, now time.Time) priority.Priority {
	p := w.prio
	if l.aging > 0 {
		p += priority.Priority(now.Sub(w.queued) / l.aging)
	}
	return min(p, priority.Critical)
}

func (l *Limiter) removeLocked(i int) {
	w := l.queue[i]
	l.queue = slices.Delete(l.queue, i, i+1)
	l.depth[w.prio].Dec()
}

// tokenSlack absorbs float rounding in the pacing bucket, so that a timer
// armed for exactly the time the tokens need does not fire a hair early.
const tokenSlack = 1e-9

// tryTakeLocked grants w if the freeze, the pacing and the budget (shared,
// or else local) allow it, returning 0. Otherwise it returns how long to
// wait, and whether only the reserve stood in the way.
func (l *Limiter) tryTakeLocked(now time.Time, w *waiter) (time.Duration, bool) {
	if now.Before(l.frozenUntil) {
		return l.frozenUntil.Sub(now), false
	}
	if l.limit == 0 {
		l.grantLocked(now, w, 0)
		return 0, false
	}
	if l.pace != nil {
		// The pacing bucket keeps the same share in reserve, so that a
		// critical request finds tokens at once while a backfill drains it.
		pc := float64(min(w.cost, l.burst))
		want := pc
		if w.prio < priority.High {
			want = max(pc, min(pc+l.reserve/l.limit*float64(l.burst), float64(l.burst)))
		}
		if tokens := l.pace.TokensAt(now); tokens < want-tokenSlack {
			need := (want - tokens) / float64(l.pace.Limit())
			return time.Duration(math.Ceil(need * float64(time.Second))), tokens >= pc-tokenSlack
		}
	}
	var sharedSeq int64
	if l.shared != nil && l.shared.usable(now) {
		d, reserveOnly, seq, err := l.sharedTakeLocked(now, w)
		l.sharedResultLocked(err)
		switch {
		case err != nil: // fall back to the local state, at our share
		case seq == 0:
			return d, reserveOnly
		default:
			sharedSeq = seq
		}
	}
	if sharedSeq == 0 {
		if d, reserveOnly := l.localWaitLocked(now, w); d > 0 {
			return d, reserveOnly
		}
	}
	l.grantLocked(now, w, sharedSeq)
	return 0, false
}

// grantLocked spends w's cost in the local accounts and hands it its
// ticket.
func (l *Limiter) grantLocked(now time.Time, w *waiter, sharedSeq int64) {
	l.tickets++
	t := &Ticket{l: l, seq: l.tickets, shared: sharedSeq, cost: float64(w.cost), sent: now}
	w.ticket = t
	if l.limit == 0 {
		return
	}
	switch l.kind {
	case Fixed:
		l.ip.grant(t.seq, l.cur, t.cost)
		l.own.grant(t.seq, l.cur, t.cost)
	case Sliding:
		l.slide.grant(t.seq, t.cost)
	case Bucket:
		l.bucket.grant(t.seq, t.cost)
	}
	if l.pace != nil {
		// ReserveN, not AllowN: the check above already allowed for float
		// rounding, so a deficit of a few nanotokens must not refuse.
		l.pace.ReserveN(now, min(w.cost, l.burst))
	}
	l.granted += t.cost
	l.updateUsedLocked(now)
}

func (l *Limiter) finish(t *Ticket, r Report) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.done {
		return
	}
	t.done = true
	if l.limit == 0 {
		return
	}
	now := l.clock.Now()
	var err error
	switch l.kind {
	case Fixed:
		sw, certain := l.resolveLocked(t, now, r)
		l.rollLocked(now)
		l.ip.finish(t.seq, l.cur, sw, certain, r.Used, r.HasUsed)
		l.own.finish(t.seq, l.cur, sw, certain, 0, false)
		if t.shared != 0 && l.shared.usable(now) {
			err = l.shared.finishFixed(now, t.shared, l.cur, sw, certain, r)
			l.sharedResultLocked(err)
		}
	case Sliding:
		l.slide.finish(t.seq, now)
		if t.shared != 0 && l.shared.usable(now) {
			err = l.shared.finishSliding(now, t.shared, l.window)
			l.sharedResultLocked(err)
		}
	case Bucket:
		l.bucket.finish(t.seq, now)
		if t.shared != 0 && l.shared.usable(now) {
			err = l.shared.finishBucket(now, t.shared, l.limit/l.window.Seconds(), float64(l.burst))
			l.sharedResultLocked(err)
		}
	}
	l.updateUsedLocked(now)
	l.dispatchLocked()
}

// resolveLocked says which server window counted t. The server counted it
// after we sent it and before it stamped the answer's Date, so the window
// is certain when both bounds fall in the same one; otherwise it is the
// later one, the conservative guess.
func (l *Limiter) resolveLocked(t *Ticket, now time.Time, r Report) (int64, bool) {
	upper := l.srv.latest(now)
	if !r.Date.IsZero() {
		if l.srv.observe(r.Date, t.sent, now) {
			// The windows were numbered by a guess at the server's clock:
			// renumber them by what it says, keeping every count.
			if idx := l.windowIndex(l.srv.earliest(now)); idx != l.cur {
				delta := idx - l.cur
				l.ip.shift(delta)
				l.own.shift(delta)
				l.cur = idx
				l.floor.ok = false
			}
		}
		l.offsetGauge.Set(((l.srv.lo + l.srv.hi) / 2).Seconds())
		upper = r.Date.Add(time.Second - 1) // Date has whole seconds
	}
	sw := l.windowIndex(upper)
	return sw, l.windowIndex(l.srv.earliest(t.sent)) == sw
}

func (l *Limiter) windowIndex(t time.Time) int64 {
	return t.UnixNano() / int64(l.window)
}

// rollAtLocked is the local time at which the server surely has entered
// the next window.
func (l *Limiter) rollAtLocked() time.Time {
	return time.Unix(0, (l.cur+1)*int64(l.window)).Add(-l.srv.lo)
}

// rollLocked moves to the server's next window once it has surely begun.
func (l *Limiter) rollLocked(now time.Time) {
	if l.kind != Fixed || l.limit == 0 {
		return
	}
	if idx := l.windowIndex(l.srv.earliest(now)); idx > l.cur {
		l.cur = idx
		l.ip.prune(idx)
		l.own.prune(idx)
		l.updateUsedLocked(now)
	}
}

func (l *Limiter) updateUsedLocked(now time.Time) {
	switch l.kind {
	case Fixed:
		est, _ := l.fixedEstLocked()
		l.usedGauge.Set(est)
	case Sliding:
		est, _ := l.slidingEstLocked(now, now)
		l.usedGauge.Set(est)
	case Bucket:
		l.usedGauge.Set(max(l.bucket.burst-l.bucket.level(now), 0))
	}
}

// caps returns the limit for everyone and the limit for p (less the
// reserve for Low and Medium unless released).
func (l *Limiter) caps(limit, reserve float64, p priority.Priority, released bool) (hard, soft float64) {
	if p >= priority.High || released {
		return limit, limit
	}
	return limit, limit - reserve
}

// fixedWait decides for a Fixed window holding est (of which est-settled
// in flight): 0 to go, else how long to wait and whether only the reserve
// stands in the way. poll: others' answers are not announced, so look
// again soon when requests in flight are what blocks.
func fixedWait(est, settled, cost, hard, soft float64, rollIn, releaseIn time.Duration, poll bool) (time.Duration, bool) {
	// One request may always open an empty window, even if it costs more
	// than the whole budget; otherwise it could never run.
	if est <= 0 || est+cost <= soft {
		return 0, false
	}
	d, reserveOnly := rollIn, false
	if est+cost <= hard {
		d, reserveOnly = releaseIn, true
	}
	if poll && settled+cost <= soft {
		d = min(d, sharedPoll)
	}
	return max(d, time.Nanosecond), reserveOnly
}

// fixedEstLocked is the local count of the current window: what reports
// and grants say, and no less than the shared state's last word plus our
// grants since.
func (l *Limiter) fixedEstLocked() (est, settled float64) {
	est, inflight := l.ip.est(l.cur)
	settled = est - inflight
	if l.floor.ok && l.floor.win == l.cur {
		f := l.floor.est + l.granted - l.floor.granted
		est, settled = max(est, f), max(settled, f)
	}
	return est, settled
}

// slidingEstLocked is what our rolling window holds at now and will
// still hold at later, and no less than the shared state's last word plus
// our grants since, while that word holds.
func (l *Limiter) slidingEstLocked(now, later time.Time) (est, estLater float64) {
	l.slide.prune(now)
	est, estLater = l.slide.at(now), l.slide.at(later)
	if f, ok := l.slidingFloorLocked(now); ok {
		est = max(est, f)
		if later.Before(l.floor.at.Add(l.window)) {
			estLater = max(estLater, f)
		}
	}
	return est, estLater
}

// slidingFloorLocked is the shared state's last count plus our grants
// since; it holds for a window after it was given.
func (l *Limiter) slidingFloorLocked(now time.Time) (float64, bool) {
	if !l.floor.ok || !now.Before(l.floor.at.Add(l.window)) {
		return 0, false
	}
	return l.floor.est + l.granted - l.floor.granted, true
}

// localWaitLocked is how long w must wait by the local accounts, which
// keep to this process's share of the budget.
func (l *Limiter) localWaitLocked(now time.Time, w *waiter) (time.Duration, bool) {
	if now.Before(l.holdUntil) {
		return l.holdUntil.Sub(now), false
	}
	cost, n := float64(w.cost), float64(l.peers)
	switch l.kind {
	case Fixed:
		rollAt := l.rollAtLocked()
		rollIn, releaseIn := rollAt.Sub(now), rollAt.Add(-l.release).Sub(now)
		released := releaseIn <= 0
		est, settled := l.fixedEstLocked()
		hard, soft := l.caps(l.limit, l.reserve, w.prio, released)
		d, reserveOnly := fixedWait(est, settled, cost, hard, soft, rollIn, releaseIn, false)
		if l.peers > 1 {
			own, inflight := l.own.est(l.cur)
			hard, soft = l.caps(l.limit/n, l.reserve/n, w.prio, released)
			dn, rn := fixedWait(own, own-inflight, cost, hard, soft, rollIn, releaseIn, false)
			if dn > 0 {
				reserveOnly = (d == 0 || reserveOnly) && rn
				d = max(d, dn)
			}
		}
		return d, reserveOnly
	case Sliding:
		return l.slidingWaitLocked(now, w, l.limit/n, l.reserve/n)
	default:
		return l.bucket.wait(now, cost), false
	}
}

// slidingWaitLocked keeps our own rolling window within limit (our share)
// and, while the shared state's last count holds, the egress's within the
// whole budget.
func (l *Limiter) slidingWaitLocked(now time.Time, w *waiter, limit, reserve float64) (time.Duration, bool) {
	cost := float64(w.cost)
	later := now.Add(l.release)
	l.slide.prune(now)
	est, estLater := l.slide.at(now), l.slide.at(later)
	hard, soft := l.caps(limit, reserve, w.prio, false)
	hardOK, softOK := est+cost <= hard, estLater+cost <= soft
	at := now
	if est > 0 && !(hardOK && softOK) {
		if !hardOK {
			t, ok := l.slide.until(now, hard-cost)
			if !ok {
				return forever, false // an answer must come first
			}
			at = t
		}
		if !softOK {
			t, ok := l.slide.until(later, soft-cost)
			if !ok {
				return forever, hardOK
			}
			if t = t.Add(-l.release); t.After(at) {
				at = t
			}
		}
	}
	if f, ok := l.slidingFloorLocked(now); ok && f > 0 && f+cost > l.limit {
		hardOK = false
		if end := l.floor.at.Add(l.window); end.After(at) {
			at = end
		}
	}
	if !at.After(now) {
		return 0, false
	}
	return at.Sub(now), hardOK
}

// sharedTakeLocked asks Redis for the budget. It returns the Redis
// ticket's number when granted, else how long to wait.
func (l *Limiter) sharedTakeLocked(now time.Time, w *waiter) (time.Duration, bool, int64, error) {
	cost := float64(w.cost)
	var (
		res               sharedTake
		err               error
		hard, soft        float64
		rollIn, releaseIn time.Duration // Fixed only
	)
	switch l.kind {
	case Fixed:
		rollAt := l.rollAtLocked()
		rollIn, releaseIn = rollAt.Sub(now), rollAt.Add(-l.release).Sub(now)
		hard, soft = l.caps(l.limit, l.reserve, w.prio, releaseIn <= 0)
		res, err = l.shared.takeFixed(now, l.cur, w.cost, soft)
	case Sliding:
		hard, soft = l.caps(l.limit, l.reserve, w.prio, false)
		res, err = l.shared.takeSliding(now, w.cost, hard, soft, l.release)
	default:
		res, err = l.shared.takeBucket(now, w.cost, l.limit/l.window.Seconds(), float64(l.burst))
	}
	switch {
	case err != nil:
		return 0, false, 0, err
	case res.frozen.After(now):
		l.freezeLocked(res.frozen)
		return res.frozen.Sub(now), false, 0, nil
	case res.seq == 0 && l.kind == Fixed:
		d, reserveOnly := fixedWait(res.est, res.settled, cost, hard, soft, rollIn, releaseIn, true)
		return d, reserveOnly, 0, nil
	case res.seq == 0:
		d := res.wait
		if d < 0 {
			d = sharedPoll
		}
		return max(d, time.Nanosecond), res.reserveOnly, 0, nil
	}
	switch l.kind {
	case Fixed:
		l.floor = floor{ok: true, win: l.cur, est: res.est, granted: l.granted + cost}
	case Sliding:
		l.floor = floor{ok: true, at: now, est: res.est, granted: l.granted + cost}
	}
	return 0, false, res.seq, nil
}

// sharedResultLocked notes whether Redis answered.
func (l *Limiter) sharedResultLocked(err error) {
	if err != nil {
		l.m.sharedErrors.WithLabelValues(l.exchange).Inc()
		if l.shared.fail(l.clock.Now()) {
			l.log.Warn("shared rate-limit state unavailable: keeping to this process's share of the budget",
				"peers", l.peers, "error", err)
		}
		return
	}
	if l.shared.recover() {
		l.log.Info("shared rate-limit state available again")
	}
}
