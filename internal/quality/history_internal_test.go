package quality

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

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

func TestDecimalFloatIsStrconvs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range []string{"0", "1", "-1", "0.1", "1003.50000000", "0.00000001", "123456789012345", "1234567890123456",
		"99999999999999999999", "0.000000000000000000001", "42283.58000000", "-0.000"} {
		d := market.MustDecimal(s)
		require.Equal(t, d.Float64(), decimalFloat(d), s)
	}
	for range 100_000 {
		s := strconv.FormatFloat(rng.Float64()*math.Pow(10, float64(rng.IntN(12))), 'f', rng.IntN(12), 64)
		d := market.MustDecimal(s)
		require.Equal(t, d.Float64(), decimalFloat(d), s)
	}
}

func TestScanDecimal(t *testing.T) {
	for s, want := range map[string][3]int{
		"0": {0, 0, 0}, "0.000": {0, 0, 0}, "-0.0": {0, 0, 0}, "1": {1, 1, 0}, "007.50": {1, 1, 1}, "-12.345": {-1, 2, 3},
		"0.00012": {1, 0, 5}, "100": {1, 3, 0}, "1" + strings.Repeat("0", 400): {1, 401, 0},
	} {
		sign, ints, fracs := scanDecimal(s)
		require.Equal(t, want, [3]int{sign, ints, fracs}, s)
	}
}
