package quality

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// seriesKey names one price history.
type seriesKey struct {
	exchange  string
	symbol    market.Symbol
	dataType  market.DataType
	timeframe market.Timeframe
}

type point struct {
	ts    int64 // unix nanoseconds
	price float64
}

// series is a ring of the most recent prices seen for one key. It keeps
// every valid price, outliers included: median and MAD shrug off isolated
// spikes, while a lasting move of the market takes over the median after
// half a window instead of being rejected for ever (a Hampel filter).
type series struct {
	mu   sync.Mutex
	ring []point
	next int
	full bool
	// least and most are the extreme prices of the whole ring, whatever
	// their times; stale once one of them is overwritten.
	least, most float64
	stale       bool
}

// histories holds the series of a Checker.
type histories struct {
	mu     sync.RWMutex
	series map[seriesKey]*series
	length int
}

func newHistories(length int) *histories {
	return &histories{series: make(map[seriesKey]*series), length: length}
}

func (h *histories) get(k seriesKey) *series {
	h.mu.RLock()
	s := h.series[k]
	h.mu.RUnlock()
	if s != nil {
		return s
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s = h.series[k]; s == nil {
		s = &series{ring: make([]point, h.length), least: math.Inf(1), most: math.Inf(-1)}
		h.series[k] = s
	}
	return s
}

// outlierRule is the part of Config the outlier check uses.
type outlierRule struct {
	k          float64
	madFloor   float64
	minHistory int
}

// verdict of checkAndAdd.
type verdict struct {
	outlier bool
	median  float64
	bound   float64 // the largest allowed |p - median|
}

// checkAndAdd judges price p at ts against the history within window of ts,
// then records it. scratch is reused between calls to avoid allocations.
func (s *series) checkAndAdd(ts time.Time, p float64, window time.Duration, r outlierRule, scratch *[]float64) verdict {
	t := ts.UnixNano()
	lo, hi := t-int64(window), t+int64(window)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.next
	if s.full {
		n = len(s.ring)
	}
	ring := s.ring[:n]
	// The window's prices lie within the ring's, and a stale range only
	// holds more: when it settles the row, as for nearly every row of a
	// calm market, neither the window nor the median is needed (within is
	// exact for any range around the window's).
	settled := r.within(p, s.least, s.most)
	if !settled && s.stale {
		_, s.least, s.most = extremes(ring, math.MinInt64, math.MaxInt64)
		s.stale = false
		settled = r.within(p, s.least, s.most)
	}
	if settled {
		s.add(t, p)
		return verdict{}
	}
	// Then the count and range of the history in the window: for nearly
	// every row they settle it without the median.
	count, least, most := extremes(ring, lo, hi)
	var vals []float64
	if count >= r.minHistory && !r.within(p, least, most) {
		vals = (*scratch)[:0]
		for _, pt := range ring {
			if pt.ts >= lo && pt.ts <= hi {
				vals = append(vals, pt.price)
			}
		}
		*scratch = vals
	}
	s.add(t, p)
	if vals == nil {
		return verdict{}
	}
	return r.judge(p, vals)
}

// extremes counts the points at times within [lo, hi] and finds their
// least and greatest price (±Inf if none).
func extremes(points []point, lo, hi int64) (count int, least, most float64) {
	least, most = math.Inf(1), math.Inf(-1)
	for _, pt := range points {
		if pt.ts < lo || pt.ts > hi {
			continue
		}
		count++
		if pt.price < least {
			least = pt.price
		}
		if pt.price > most {
			most = pt.price
		}
	}
	return count, least, most
}

// add records a price, overwriting the oldest when the ring is full. The
// ring's range goes stale, wider than its prices, when the oldest was at
// one end of it.
func (s *series) add(t int64, p float64) {
	if old := s.ring[s.next].price; s.full && (old == s.least || old == s.most) {
		s.stale = true
	}
	if p < s.least {
		s.least = p
	}
	if p > s.most {
		s.most = p
	}
	s.ring[s.next] = point{ts: t, price: p}
	s.next++
	if s.next == len(s.ring) {
		s.next, s.full = 0, true
	}
}

// within reports, without the median, that p cannot be an outlier against
// values in [least, most]: the median lies in that range, so |p - median|
// is at most the larger distance from p to its ends, and the bound is at
// least k * madFloor * least. Float rounding is monotonic, so the shortcut
// agrees with judge exactly; it spares the two selections for nearly every
// row of a calm market.
func (r outlierRule) within(p, least, most float64) bool {
	if !(least > 0) {
		return false
	}
	return max(p-least, most-p) <= r.k*(r.madFloor*least)
}

// judge computes the median and MAD of vals (reordering them) and judges p.
func (r outlierRule) judge(p float64, vals []float64) verdict {
	med, mad := medianMAD(vals)
	if floor := r.madFloor * math.Abs(med); mad < floor {
		mad = floor
	}
	bound := r.k * mad
	return verdict{outlier: math.Abs(p-med) > bound, median: med, bound: bound}
}

// medianMAD returns the median of vals and the median absolute deviation
// from it. It reorders vals.
func medianMAD(vals []float64) (float64, float64) {
	med := median(vals)
	for i, v := range vals {
		vals[i] = math.Abs(v - med)
	}
	return med, median(vals)
}

// median of non-empty vals, by selection rather than sorting: it runs
// twice per checked row. It reorders vals.
func median(vals []float64) float64 {
	n := len(vals)
	hi := selectNth(vals, n/2)
	if n%2 == 1 {
		return hi
	}
	// After selection every value left of n/2 is <= hi; the largest of them
	// is the other middle value.
	return (slices.Max(vals[:n/2]) + hi) / 2
}

// selectNth reorders vals so that vals[k] is the k-th smallest, with smaller
// or equal values before it, and returns it (Hoare's quickselect).
func selectNth(vals []float64, k int) float64 {
	lo, hi := 0, len(vals)-1
	for lo < hi {
		pivot := vals[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for vals[i] < pivot {
				i++
			}
			for vals[j] > pivot {
				j--
			}
			if i <= j {
				vals[i], vals[j] = vals[j], vals[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return vals[k]
		}
	}
	return vals[k]
}
