package replay

import (
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// rateSpec is an exchange's published budget: limit units per window.
type rateSpec struct {
	limit  int
	window time.Duration
}

// Budget replaces an exchange's published rate limits (every route group)
// with Limit units per Window, so that tests and load runs can exhaust a
// budget in seconds rather than minutes. The unit stays the exchange's own
// (Binance weight, KuCoin points, calls elsewhere).
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

// limiter counts usage in fixed windows aligned to the clock, as Binance's
// per-minute weight is. Usage is counted even when enforcement is off, so
// the usage headers stay truthful.
type limiter struct {
	mu      sync.Mutex
	windows map[string]*window
	off     map[string]bool
	budgets map[string]Budget // overrides by exchange
}

type window struct {
	start time.Time
	size  time.Duration
	used  int
}

func (l *limiter) init() {
	l.windows = map[string]*window{}
	l.off = map[string]bool{}
	l.budgets = map[string]Budget{}
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

// spec returns the budget in force: the override, else the published one.
func (l *limiter) spec(exchange string, published rateSpec) rateSpec {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.budgets[exchange]; ok {
		return rateSpec{limit: b.Limit, window: b.Window}
	}
	return published
}

// windowStart aligns windows to the Unix epoch, as the exchanges' fixed
// windows (and mdingest's limiter) are.
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

// take spends cost units. Over the limit (when enforced) nothing is spent
// and retry says when the window ends.
func (l *limiter) take(exchange, group string, spec rateSpec, cost int, now time.Time, enforced bool) (allowed bool, used int, retry time.Duration) {
	if spec.limit <= 0 || spec.window <= 0 {
		return true, 0, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	key := exchange + " " + group
	start := windowStart(now, spec.window)
	w := l.windows[key]
	if w == nil || !w.start.Equal(start) {
		w = &window{start: start, size: spec.window}
		l.windows[key] = w
	}
	retry = start.Add(spec.window).Sub(now)
	if enforced && w.used+cost > spec.limit {
		return false, w.used, retry
	}
	w.used += cost
	return true, w.used, retry
}

// RateState is one exchange's enforcement state for the admin API.
type RateState struct {
	Enforced bool           `json:"enforced"`
	Used     map[string]int `json:"used"`             // by group ("" = whole exchange), in the current window
	Budget   *Budget        `json:"budget,omitempty"` // the override in force, if any
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
		out[ex] = st
	}
	for key, w := range l.windows {
		var ex, group string
		for i := range key {
			if key[i] == ' ' {
				ex, group = key[:i], key[i+1:]
				break
			}
		}
		if windowStart(now, w.size).Equal(w.start) {
			out[ex].Used[group] = w.used
		}
	}
	return out
}
