package replay

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBoundsHoldThePath samples the path densely over spans from a second
// to a week: no price lies outside the span's bounds, and the bounds stay
// near the path's own range (wicks of at most 5%, on the longest spans).
func TestBoundsHoldThePath(t *testing.T) {
	start := int64(1735689600000) // 2025-01-01
	for _, sym := range []symbol{{"BTC", "USDT"}, {"XRP", "USDT"}, {"ZZZ", "USD"}} {
		for _, ex := range []string{"binance", "kraken"} {
			s := newSeries(sym, ex, 70000, 0.01, 0)
			for _, span := range []int64{1000, minute, 17 * minute, hour, day, week} {
				for i := range int64(5) {
					from := start + i*span*3/2 + i*i*7919
					to := from + span
					lo, hi := s.bounds(from, to)
					pmin, pmax := hi, lo
					for k := range int64(2001) {
						p := s.price(from + (to-from)*k/2000)
						pmin, pmax = min(pmin, p), max(pmax, p)
						require.LessOrEqual(t, p, hi, "%s %s span %d", sym, ex, span)
						require.GreaterOrEqual(t, p, lo, "%s %s span %d", sym, ex, span)
					}
					require.Less(t, hi/pmax, 1.05, "%s %s span %d: high bound too far", sym, ex, span)
					require.Greater(t, lo/pmin, 0.95, "%s %s span %d: low bound too far", sym, ex, span)
				}
			}
		}
	}
}

// TestSineRange checks the crest and trough cases against sampling.
func TestSineRange(t *testing.T) {
	for _, c := range [][2]float64{{0, 1}, {1, 2}, {-2, -1}, {4, 5}, {-7, 0.5}, {10, 10}, {3, 3.2}, {0, 7}} {
		lo, hi := sineRange(c[0], c[1])
		slo, shi := 2.0, -2.0
		for k := range 10001 {
			v := math.Sin(c[0] + (c[1]-c[0])*float64(k)/10000)
			slo, shi = min(slo, v), max(shi, v)
		}
		require.InDelta(t, slo, lo, 1e-6, "%v", c)
		require.InDelta(t, shi, hi, 1e-6, "%v", c)
	}
}
