package replay

import (
	"sync"
	"time"
)

// rateSpec is an exchange's published budget: limit units per window.
type rateSpec struct {
	limit  int
	window time.Duration
}

// limiter counts usage in fixed windows aligned to the clock, as Binance's
// per-minute weight is. Usage is counted even when enforcement is off, so
// the usage headers stay truthful.
type limiter struct {
	mu      sync.Mutex
	windows map[string]*window
	off     map[string]bool
}

type window struct {
	start time.Time
	size  time.Duration
	used  int
}

func (l *limiter) init() {
	l.windows = map[string]*window{}
	l.off = map[string]bool{}
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
	start := now.Truncate(spec.window)
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
	Used     map[string]int `json:"used"` // by group ("" = whole exchange), in the current window
}

func (l *limiter) state(now time.Time) map[string]RateState {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]RateState{}
	for _, ex := range Exchanges {
		out[ex] = RateState{Enforced: !l.off[ex], Used: map[string]int{}}
	}
	for key, w := range l.windows {
		var ex, group string
		for i := range key {
			if key[i] == ' ' {
				ex, group = key[:i], key[i+1:]
				break
			}
		}
		if now.Truncate(w.size).Equal(w.start) {
			out[ex].Used[group] = w.used
		}
	}
	return out
}
