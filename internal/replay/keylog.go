package replay

import (
	"net/http"
	"sort"
	"sync"
)

// The key log (opt-in: Options.KeyLog or POST /_admin/keylog) counts the
// distinct row keys served in intact answers, so that a soak run can
// compare what was served with what was stored after de-duplication:
// Rows counts every row of every answer, and candles and trades overlap
// from one poll to the next. An answer counts when it was a 200 that no
// fault changed (a truncated body delivers nothing usable).
//
// Keys per data type, in ExchangeStats.Keys:
//
//	ohlcv      distinct (symbol, timeframe, open time)
//	trades     distinct (symbol, trade)
//	ticker     rows: every answer is a new observation (times move to now)
//	orderbook  answers: one snapshot each

// span is an inclusive range of key indexes: candle open time / timeframe,
// or a trade's sequence number.
type span struct{ lo, hi int64 }

type seriesKey struct {
	exchange, kind, symbol string
	tf                     int64 // ms; 0 for trades
}

// callKeys collects the keys one answer serves, before it is known to
// have gone out intact.
type callKeys struct {
	spans map[seriesKey][]span
}

func (k *callKeys) add(sk seriesKey, lo, hi int64) {
	if k.spans == nil {
		k.spans = map[seriesKey][]span{}
	}
	ss := k.spans[sk]
	// Answers list rows in order: extend the last span when they touch.
	if n := len(ss); n > 0 && ss[n-1].lo <= hi+1 && lo <= ss[n-1].hi+1 {
		ss[n-1] = span{min(lo, ss[n-1].lo), max(hi, ss[n-1].hi)}
		return
	}
	k.spans[sk] = append(ss, span{lo, hi})
}

// seriesKeys is what a series records into while an answer is built.
type seriesKeys struct {
	call   *callKeys
	symbol string
}

func (s *seriesKeys) candle(open, tf int64) {
	s.call.add(seriesKey{kind: "ohlcv", symbol: s.symbol, tf: tf}, floorDiv(open, tf), floorDiv(open, tf))
}

func (s *seriesKeys) trades(from, to int64) {
	s.call.add(seriesKey{kind: "trades", symbol: s.symbol}, from, to)
}

type keyLog struct {
	mu     sync.Mutex
	on     bool
	spans  map[seriesKey][]span        // sorted, disjoint, not adjacent
	counts map[string]map[string]int64 // exchange -> kind -> ticker rows, book answers
}

func (l *keyLog) enabled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.on
}

// reset clears the keys; enable turns the log on (it stays on over resets).
func (l *keyLog) reset(enable bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = l.on || enable
	l.spans = map[seriesKey][]span{}
	l.counts = map[string]map[string]int64{}
}

// served records an intact answer of kind with rows rows.
func (l *keyLog) served(exchange, kind string, rows int, k *callKeys) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch kind {
	case "ticker", "orderbook":
		if l.counts[exchange] == nil {
			l.counts[exchange] = map[string]int64{}
		}
		n := int64(rows)
		if kind == "orderbook" {
			n = 1
		}
		l.counts[exchange][kind] += n
	}
	for sk, ss := range k.spans {
		sk.exchange = exchange
		for _, s := range ss {
			l.spans[sk] = union(l.spans[sk], s)
		}
	}
}

// union adds s to sorted disjoint spans, merging what it touches.
func union(spans []span, s span) []span {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].hi >= s.lo-1 })
	j := i
	for j < len(spans) && spans[j].lo <= s.hi+1 {
		s.lo, s.hi = min(s.lo, spans[j].lo), max(s.hi, spans[j].hi)
		j++
	}
	return append(spans[:i], append([]span{s}, spans[j:]...)...)
}

// distinct returns the key counts per exchange and kind.
func (l *keyLog) distinct() map[string]map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]map[string]int64{}
	for ex, kinds := range l.counts {
		out[ex] = map[string]int64{}
		for kind, n := range kinds {
			out[ex][kind] = n
		}
	}
	for sk, ss := range l.spans {
		if out[sk.exchange] == nil {
			out[sk.exchange] = map[string]int64{}
		}
		for _, s := range ss {
			out[sk.exchange][sk.kind] += s.hi - s.lo + 1
		}
	}
	return out
}

// EnableKeyLog turns the key log on, as POST /_admin/keylog does.
func (h *Handler) EnableKeyLog() { h.keys.reset(true) }

func (h *Handler) postKeyLog(w http.ResponseWriter, _ *http.Request) {
	h.EnableKeyLog()
	writeJSON(w, http.StatusOK, map[string]bool{"enabled": true})
}
