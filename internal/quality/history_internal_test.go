package quality

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
)

// The shortcut never says "not an outlier" where the full judgement says
// "outlier", whatever the history.
func TestOutlierShortcutAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rules := []outlierRule{{k: 10, madFloor: 0.005, minHistory: 10}, {k: 3, madFloor: 0.001, minHistory: 5}, {k: 1, madFloor: 0, minHistory: 1}}
	shortcuts := 0
	for i := range 200_000 {
		r := rules[i%len(rules)]
		base := 1 + rng.Float64()*50_000
		spread := []float64{0.0001, 0.01, 0.1, 2}[rng.IntN(4)]
		vals := make([]float64, 1+rng.IntN(50))
		for j := range vals {
			vals[j] = base * (1 + spread*(rng.Float64()-0.5))
		}
		p := base * (1 + spread*(rng.Float64()-0.5)*3)
		if !r.within(p, slices.Min(vals), slices.Max(vals)) {
			continue
		}
		shortcuts++
		require.False(t, r.judge(p, slices.Clone(vals)).outlier, "p %v against %v with %+v", p, vals, r)
	}
	require.Greater(t, shortcuts, 10_000, "the shortcut is taken")
}

func TestParseNumberFloatIsStrconvs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range []string{"0", "1", "-1", "0.1", "1003.50000000", "0.00000001", "123456789012345", "1234567890123456",
		"99999999999999999999", "0.000000000000000000001", "42283.58000000", "-0.000", "0.00001234000000000000",
		"12345678.1234567000000000", "1234567.890123456", "0.1000000000000000000000001", "100000000000000000000",
		"0.0000000000000000000001", "0.00000000000000000000001", "9007199254740993", "-0.30000000000000004"} {
		d := market.MustDecimal(s)
		require.Equal(t, d.Float64(), parseNumber(d).f, s)
	}
	for range 100_000 {
		s := strconv.FormatFloat(rng.Float64()*math.Pow(10, float64(rng.IntN(12))), 'f', rng.IntN(12), 64)
		s += strings.Repeat("0", rng.IntN(12)*rng.IntN(2)) // trailing zeros, as exchanges pad
		if !strings.Contains(s, ".") && strings.HasSuffix(s, "0") {
			s += ".0"
		}
		d := market.MustDecimal(s)
		require.Equal(t, d.Float64(), parseNumber(d).f, s)
	}
}

func TestParseNumberDigits(t *testing.T) {
	for s, want := range map[string][3]int{
		"0": {0, 0, 0}, "0.000": {0, 0, 0}, "-0.0": {0, 0, 0}, "1": {1, 1, 0}, "007.50": {1, 1, 1}, "-12.345": {-1, 2, 3},
		"0.00012": {1, 0, 5}, "100": {1, 3, 0}, "1" + strings.Repeat("0", 400): {1, 401, 0},
	} {
		n := parseNumber(market.MustDecimal(s))
		require.Equal(t, want, [3]int{n.sign, n.ints, n.fracs}, s)
	}
}

// The ring-wide shortcut gives the verdicts a full scan of the window
// gives, on series with gaps, disorder, trends and spikes.
func TestCheckAndAddIsTheWindowsVerdict(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	rules := []outlierRule{{k: 10, madFloor: 0.005, minHistory: 10}, {k: 3, madFloor: 0.001, minHistory: 5}, {k: 1, madFloor: 0, minHistory: 1}}
	outliers := 0
	for trial := range 300 {
		r := rules[trial%len(rules)]
		length := 1 + rng.IntN(60)
		s := newHistories(length).get(seriesKey{})
		var kept []point // the last length points, as the ring holds them
		window := time.Duration(1+rng.IntN(length)) * time.Minute
		ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		price := 100 + rng.Float64()*1000
		trend := []float64{0, 0.001, -0.001, 0.02}[rng.IntN(4)]
		var scratch []float64
		for range 400 {
			switch rng.IntN(20) {
			case 0:
				ts = ts.Add(time.Duration(rng.IntN(3*length)) * time.Minute) // a gap
			case 1:
				ts = ts.Add(-time.Duration(rng.IntN(length)) * time.Minute) // out of order
			default:
				ts = ts.Add(time.Minute)
			}
			price *= 1 + trend + 0.002*(rng.Float64()-0.5)
			p := price
			if rng.IntN(15) == 0 {
				p *= []float64{0.5, 1.5, 1.05, 0.97}[rng.IntN(4)] // a spike
			}
			var vals []float64
			lo, hi := ts.Add(-window).UnixNano(), ts.Add(window).UnixNano()
			for _, pt := range kept {
				if pt.ts >= lo && pt.ts <= hi {
					vals = append(vals, pt.price)
				}
			}
			want := len(vals) >= r.minHistory && r.judge(p, vals).outlier
			got := s.checkAndAdd(ts, p, window, r, &scratch)
			require.Equal(t, want, got.outlier, "trial %d: price %v at %s", trial, p, ts)
			if want {
				outliers++
			}
			kept = append(kept, point{ts: ts.UnixNano(), price: p})
			if len(kept) > length {
				kept = kept[1:]
			}
		}
	}
	require.Greater(t, outliers, 100, "outliers are found")
}
