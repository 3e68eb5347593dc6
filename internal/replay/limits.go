package replay

import (
	"encoding/json"
	"math"
	"strings"
	"sync"
	"time"
)

// Window kinds: how an exchange counts its budget.
const (
	// kindFixed: calendar windows aligned to the server's clock (the Unix
	// epoch), as Binance's REQUEST_WEIGHT per minute.
	kindFixed = "fixed"
	// kindSliding: any span of the window holds at most the limit; the
	// strict reading of "N per T" where an exchange does not say whether
	// its window is fixed or rolling.
	kindSliding = "sliding"
	// kindBucket: a token bucket of burst units refilled at limit per
	// window (Coinbase's documented lazy-fill bucket).
	kindBucket = "bucket"
)

// DefaultBan is how long a strict server bans an IP that ignored a 429
// (Binance: "from 2 minutes to 3 days", the shortest first).
const DefaultBan = 2 * time.Minute

// rateSpec is an exchange's published budget: limit units per window,
// counted the exchange's way.
type rateSpec struct {
	limit  int
	window time.Duration
	kind   string
	burst  int // kindBucket: the bucket's size; 0: limit
}

// Budget replaces an exchange's published rate limits (every route group)
// with Limit units per Window, so that tests and load runs can exhaust a
// budget in seconds rather than minutes. The unit and the kind of window
// stay the exchange's own (Binance weight in calendar windows, ...).
type Budget struct {
	Limit  int
	Window time.Duration
}

func (b Budget) valid() bool { return b.Limit > 0 && b.Window > 0 }

// MarshalJSON writes {"limit": 400, "window": "2s"}, as the admin API
// takes it.
func (b Budget) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Limit  int    `json:"limit"`
		Window string `json:"window"`
	}{b.Limit, b.Window.String()})
}

// limiter counts usage per exchange and route group the exchange's way.
// Usage is counted even when enforcement is off, so the usage headers stay
// truthful. With strict on, an exchange that documents bans (Binance's 418)
// bans a client that sends again before a 429's Retry-After has passed.
type limiter struct {
	mu      sync.Mutex
	windows map[string]*counter
	off     map[string]bool
	budgets map[string]Budget // overrides by exchange
	strict  bool
	banFor  time.Duration
	warned  map[string]time.Time // exchange -> end of the last 429's Retry-After
	banned  map[string]time.Time // exchange -> end of the ban
}

// counter is one exchange and group's usage under one spec.
type counter struct {
	spec rateSpec
	// kindFixed
	start time.Time
	used  int
	// kindSliding: requests in the window, oldest first
	log []spent
	// kindBucket
	tokens float64
	at     time.Time
}

type spent struct {
	at   time.Time
	cost int
}

func (l *limiter) init() {
	l.windows = map[string]*counter{}
	l.off = map[string]bool{}
	l.budgets = map[string]Budget{}
	l.warned = map[string]time.Time{}
	l.banned = map[string]time.Time{}
	if l.banFor <= 0 {
		l.banFor = DefaultBan
	}
}

// setBudget overrides an exchange's limits; a zero Budget restores the
// published ones. Its current windows restart.
func (l *limiter) setBudget(exchange string, b Budget) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b.valid() {
		l.budgets[exchange] = b
	} else {
		delete(l.budgets, exchange)
	}
	for key := range l.windows {
		if strings.HasPrefix(key, exchange+" ") {
			delete(l.windows, key)
		}
	}
}

// spec returns the budget in force: the override (in the published kind,
// a bucket's burst scaled with its rate), else the published one.
func (l *limiter) spec(exchange string, published rateSpec) rateSpec {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.budgets[exchange]
	if !ok {
		return published
	}
	s := rateSpec{limit: b.Limit, window: b.Window, kind: published.kind}
	if published.kind == kindBucket && published.limit > 0 {
		scale := (float64(b.Limit) / b.Window.Seconds()) / (float64(published.limit) / published.window.Seconds())
		s.burst = max(1, int(math.Round(float64(published.size())*scale)))
	}
	return s
}

func (s rateSpec) size() int {
	if s.burst > 0 {
		return s.burst
	}
	return s.limit
}

// windowStart aligns windows to the Unix epoch, as the exchanges' fixed
// windows are, on the server's clock.
func windowStart(now time.Time, size time.Duration) time.Time {
	return time.Unix(0, now.UnixNano()/int64(size)*int64(size))
}

func (l *limiter) enforce(exchange string, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.off[exchange] = !on
}

func (l *limiter) enforced(exchange string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.off[exchange]
}

// verdict is what the limiter says of one request.
type verdict struct {
	allowed bool
	used    int           // units counted in the window (the bucket: units short of full)
	retry   time.Duration // until the budget has room again (429) or the ban ends (418)
	banned  bool          // 418: the exchange bans the client
}

// take spends cost units. Over the limit (when enforced) nothing is spent
// and retry says when there is room again. With canBan, a strict limiter
// bans a client that comes back before a 429's Retry-After.
func (l *limiter) take(exchange, group string, spec rateSpec, cost int, now time.Time, enforced, canBan bool) verdict {
	if spec.limit <= 0 || spec.window <= 0 {
		return verdict{allowed: true}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if enforced && canBan && l.strict {
		if until := l.banned[exchange]; now.Before(until) {
			return verdict{banned: true, retry: until.Sub(now)}
		}
		if until := l.warned[exchange]; now.Before(until) {
			until = now.Add(l.banFor)
			l.banned[exchange] = until
			delete(l.warned, exchange)
			return verdict{banned: true, retry: l.banFor}
		}
	}
	key := exchange + " " + group
	c := l.windows[key]
	if c == nil || c.spec != spec {
		c = &counter{spec: spec, tokens: float64(spec.size()), at: now}
		l.windows[key] = c
	}
	v := c.take(cost, now, enforced)
	if !v.allowed && canBan && l.strict {
		l.warned[exchange] = now.Add(retrySeconds(v.retry))
	}
	return v
}

// retrySeconds is Retry-After as sent: whole seconds, rounded up.
func retrySeconds(d time.Duration) time.Duration {
	return time.Duration(math.Ceil(d.Seconds())) * time.Second
}

func (c *counter) take(cost int, now time.Time, enforced bool) verdict {
	switch c.spec.kind {
	case kindSliding:
		c.prune(now)
		used := 0
		for _, s := range c.log {
			used += s.cost
		}
		if enforced && used+cost > c.spec.limit {
			// Room once enough of the oldest have left the window.
			need, retry := used+cost-c.spec.limit, c.spec.window
			for _, s := range c.log {
				need -= s.cost
				if need <= 0 {
					retry = s.at.Add(c.spec.window).Sub(now)
					break
				}
			}
			return verdict{used: used, retry: retry}
		}
		c.log = append(c.log, spent{at: now, cost: cost})
		return verdict{allowed: true, used: used + cost, retry: c.log[0].at.Add(c.spec.window).Sub(now)}
	case kindBucket:
		size := float64(c.spec.size())
		rate := float64(c.spec.limit) / c.spec.window.Seconds()
		if now.After(c.at) {
			c.tokens = min(size, c.tokens+rate*now.Sub(c.at).Seconds())
			c.at = now
		}
		want := min(float64(cost), size)
		if enforced && c.tokens < want {
			retry := time.Duration(math.Ceil((want - c.tokens) / rate * float64(time.Second)))
			return verdict{used: int(math.Ceil(size - c.tokens)), retry: retry}
		}
		c.tokens -= float64(cost)
		return verdict{allowed: true, used: int(math.Ceil(size - c.tokens)), retry: time.Duration(float64(cost) / rate * float64(time.Second))}
	default:
		start := windowStart(now, c.spec.window)
		if !c.start.Equal(start) {
			c.start, c.used = start, 0
		}
		retry := start.Add(c.spec.window).Sub(now)
		if enforced && c.used+cost > c.spec.limit {
			return verdict{used: c.used, retry: retry}
		}
		c.used += cost
		return verdict{allowed: true, used: c.used, retry: retry}
	}
}

func (c *counter) prune(now time.Time) {
	i := 0
	for i < len(c.log) && !c.log[i].at.Add(c.spec.window).After(now) {
		i++
	}
	c.log = c.log[i:]
}

// usedNow is the counter's usage at now, without spending.
func (c *counter) usedNow(now time.Time) int {
	switch c.spec.kind {
	case kindSliding:
		c.prune(now)
		used := 0
		for _, s := range c.log {
			used += s.cost
		}
		return used
	case kindBucket:
		rate := float64(c.spec.limit) / c.spec.window.Seconds()
		tokens := min(float64(c.spec.size()), c.tokens+rate*max(now.Sub(c.at).Seconds(), 0))
		return int(math.Ceil(float64(c.spec.size()) - tokens))
	default:
		if windowStart(now, c.spec.window).Equal(c.start) {
			return c.used
		}
		return 0
	}
}

// RateState is one exchange's enforcement state for the admin API.
type RateState struct {
	Enforced    bool           `json:"enforced"`
	Used        map[string]int `json:"used"`             // by group ("" = whole exchange), now
	Budget      *Budget        `json:"budget,omitempty"` // the override in force, if any
	BannedUntil *time.Time     `json:"banned_until,omitempty"`
}

func (l *limiter) state(now time.Time) map[string]RateState {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]RateState{}
	for _, ex := range Exchanges {
		st := RateState{Enforced: !l.off[ex], Used: map[string]int{}}
		if b, ok := l.budgets[ex]; ok {
			st.Budget = &b
		}
		if until, ok := l.banned[ex]; ok && now.Before(until) {
			st.BannedUntil = &until
		}
		out[ex] = st
	}
	for key, c := range l.windows {
		ex, group, _ := strings.Cut(key, " ")
		if u := c.usedNow(now); u > 0 {
			out[ex].Used[group] = u
		}
	}
	return out
}
