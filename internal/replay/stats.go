package replay

import "sync"

// RouteStats counts what one route served.
type RouteStats struct {
	Requests    int64 `json:"requests"`
	OK          int64 `json:"ok"`
	Errors      int64 `json:"errors"`       // answered with the exchange's error (bad symbol, bad parameter)
	Faults      int64 `json:"faults"`       // an injected fault fired
	RateLimited int64 `json:"rate_limited"` // refused over the rate limit
	Banned      int64 `json:"banned"`       // refused because the client is banned (strict mode)
	Rows        int64 `json:"rows"`         // data rows served (candles, trades, book levels, tickers, markets)
}

// ExchangeStats is one exchange's counts: per route, and rows per data
// type so tests can compare what was served with what was stored.
type ExchangeStats struct {
	Routes map[string]*RouteStats `json:"routes"`
	Rows   map[string]int64       `json:"rows"`
	// Keys are the distinct keys served intact per data type, with the
	// key log on (see keylog.go).
	Keys map[string]int64 `json:"keys,omitempty"`
}

type statSet struct {
	mu sync.Mutex
	ex map[string]*ExchangeStats
}

func (s *statSet) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ex = map[string]*ExchangeStats{}
}

func (s *statSet) route(ex, path string) *RouteStats {
	e := s.ex[ex]
	if e == nil {
		e = &ExchangeStats{Routes: map[string]*RouteStats{}, Rows: map[string]int64{}}
		s.ex[ex] = e
	}
	r := e.Routes[path]
	if r == nil {
		r = &RouteStats{}
		e.Routes[path] = r
	}
	return r
}

func (s *statSet) request(ex, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.route(ex, path).Requests++
}

func (s *statSet) fault(ex, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.route(ex, path).Faults++
}

func (s *statSet) limited(ex, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.route(ex, path).RateLimited++
}

func (s *statSet) banned(ex, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.route(ex, path).Banned++
}

func (s *statSet) failed(ex, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.route(ex, path).Errors++
}

func (s *statSet) rows(ex, path, kind string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.route(ex, path)
	r.OK++
	r.Rows += int64(n)
	s.ex[ex].Rows[kind] += int64(n)
}

// snapshot copies the counts.
func (s *statSet) snapshot() map[string]ExchangeStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]ExchangeStats, len(s.ex))
	for name, e := range s.ex {
		c := ExchangeStats{Routes: map[string]*RouteStats{}, Rows: map[string]int64{}}
		for p, r := range e.Routes {
			rc := *r
			c.Routes[p] = &rc
		}
		for k, n := range e.Rows {
			c.Rows[k] = n
		}
		out[name] = c
	}
	return out
}

// Stats returns the served counts per exchange.
func (h *Handler) Stats() map[string]ExchangeStats {
	out := h.stats.snapshot()
	for ex, keys := range h.keys.distinct() {
		if e, found := out[ex]; found {
			e.Keys = keys
			out[ex] = e
		}
	}
	return out
}
