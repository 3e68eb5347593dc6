package quality

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/mdingest/mdingest/internal/market"
)

// TestParseNumberMatchesStrconv reads random plain decimals (leading and
// trailing zeros, long fractions, values past 2^53) and wants the digit
// counts by hand and the float strconv reads.
func TestParseNumberMatchesStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
			if rng.IntN(3) == 0 {
				b[i] = '0'
			}
		}
		return string(b)
	}
	cases := []string{"0", "0.0", "00.000", "-0.00", "10000", "16541.77000000", "0.00000001", "0.000100000", "9007199254740993",
		"900719925474099.3", "1.00000000000000000000000", "123456789012345678901234567890.5", "-42.5"}
	for range 50_000 {
		s := digits(1 + rng.IntN(24))
		if rng.IntN(3) > 0 {
			s += "." + digits(rng.IntN(26))
		}
		if rng.IntN(4) == 0 {
			s = "-" + s
		}
		cases = append(cases, s)
	}
	for _, s := range cases {
		d := market.MustDecimal(s)
		got := parseNumber(d)
		abs := strings.TrimPrefix(d.String(), "-")
		ip, fp, _ := strings.Cut(abs, ".")
		ip, fp = strings.TrimLeft(ip, "0"), strings.TrimRight(fp, "0")
		want := numberText{ints: len(ip), fracs: len(fp)}
		if ip != "" || fp != "" {
			want.sign = 1
			if strings.HasPrefix(d.String(), "-") {
				want.sign = -1
			}
			f, err := strconv.ParseFloat(d.String(), 64)
			if err != nil {
				t.Fatal(err)
			}
			want.f = f
		}
		if got != want {
			t.Fatalf("parseNumber(%s) = %+v, want %+v", s, got, want)
		}
	}
}
