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
		s = &series{ring: make([]point, h.length)}
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
	vals := (*scratch)[:0]
	n := s.next
	if s.full {
		n = len(s.ring)
	}
	for _, pt := range s.ring[:n] {
		if pt.ts >= lo && pt.ts <= hi {
			vals = append(vals, pt.price)
		}
	}
	*scratch = vals
	s.ring[s.next] = point{ts: t, price: p}
	s.next++
	if s.next == len(s.ring) {
		s.next, s.full = 0, true
	}
	if len(vals) < r.minHistory {
		return verdict{}
	}
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
