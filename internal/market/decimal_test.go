package market

import (
	"bytes"
	"encoding"
	"encoding/gob"
	"encoding/json"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseDecimal(t *testing.T) {
	for in, want := range map[string]string{
		"0.01000000": "0.01000000", "42": "42", "+1.5": "1.5", "-0.0": "-0.0", ".5": "0.5", "5.": "5.",
		"1.6575393849546936E8": "165753938.49546936", "1e-3": "0.001", "-2.5e2": "-250", "12E0": "12",
	} {
		d, err := ParseDecimal(in)
		require.NoError(t, err, in)
		require.Equal(t, want, d.String(), in)
	}
	for _, in := range []string{"", ".", "abc", "1.2.3", "NaN", "Inf", "0x10", "1e", "1e99999", "--1", "1,5"} {
		_, err := ParseDecimal(in)
		require.Error(t, err, in)
	}
}

func TestCmpAgreesWithRat(t *testing.T) {
	vals := []string{"0", "-0.0", "0.001", "1", "1.0", "1.00001", "10", "9.99999", "-1", "-10.5", "-10.50", "123456789012345678901234.5", "007.5", "7.50"}
	for _, a := range vals {
		for _, b := range vals {
			da, db := MustDecimal(a), MustDecimal(b)
			ra, _ := new(big.Rat).SetString(da.String())
			rb, _ := new(big.Rat).SetString(db.String())
			require.Equal(t, ra.Cmp(rb), da.Cmp(db), "%s vs %s", a, b)
		}
	}
}

// TestCmpRandomAgreesWithRat compares random plain decimals alike in
// their digits (where a comparison is decided late, or by trailing zeros
// or a bare point) as big.Rat orders them.
func TestCmpRandomAgreesWithRat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "0019"[rng.IntN(4)]
		}
		return string(b)
	}
	number := func() string {
		s := digits(1 + rng.IntN(3))
		switch rng.IntN(4) {
		case 0:
			s += "."
		case 1, 2:
			s += "." + digits(1+rng.IntN(4))
		}
		if rng.IntN(8) == 0 {
			s = "-" + s
		}
		return s
	}
	for range 200_000 {
		a, b := MustDecimal(number()), MustDecimal(number())
		ra, _ := new(big.Rat).SetString(strings.TrimSuffix(a.String(), "."))
		rb, _ := new(big.Rat).SetString(strings.TrimSuffix(b.String(), "."))
		if got, want := a.Cmp(b), ra.Cmp(rb); got != want {
			t.Fatalf("%s vs %s: Cmp %d, want %d", a, b, got, want)
		}
	}
}

func TestUnscaledAndMul(t *testing.T) {
	n, scale := MustDecimal("-12.0500").Unscaled()
	require.Equal(t, "-120500", n.String())
	require.Equal(t, 4, scale)
	n, _ = MustDecimal("123456789012345678901.5").Unscaled()
	require.Equal(t, "1234567890123456789015", n.String())
	require.Equal(t, "0.15", MustDecimal("1.5").Mul(MustDecimal("0.10")).String())
	require.False(t, MustDecimal("1").Mul(Decimal{}).Valid())
}

func TestDecimalArithmetic(t *testing.T) {
	d := MustDecimal
	require.Equal(t, "66802.1", d("67400").Sub(d("597.9")).String())
	require.Equal(t, "-0.5", d("1").Sub(d("1.5")).String())
	require.Equal(t, "0", d("1.10").Sub(d("1.1")).String())
	for _, tc := range [][3]string{{"1.5", "2.25", "3.75"}, {"0.1", "0.2", "0.3"}, {"10", "0.001", "10.001"}, {"0", "0", "0"}, {"1.10", "1.5", "2.6"}} {
		require.Equal(t, tc[2], d(tc[0]).Add(d(tc[1])).String(), tc)
	}
	require.False(t, d("1").Sub(Decimal{}).Valid())
	require.False(t, Decimal{}.Add(d("1")).Valid())
	require.Equal(t, "0.333333333333333333", d("1").Quo(d("3"), 18).String())
	require.Equal(t, "-0.333", d("-1").Quo(d("3"), 3).String(), "truncated toward zero")
	require.Equal(t, "2", d("5").Quo(d("2.5"), 18).String())
	require.False(t, d("1").Quo(d("0"), 18).Valid())
}

func TestDecimalJSON(t *testing.T) {
	b, err := json.Marshal(struct{ A, B Decimal }{MustDecimal("0.0100"), Decimal{}})
	require.NoError(t, err)
	require.Equal(t, `{"A":0.0100,"B":null}`, string(b))
	var v struct{ A, B, C Decimal }
	require.NoError(t, json.Unmarshal([]byte(`{"A":"1.50","B":2e1,"C":null}`), &v))
	require.Equal(t, "1.50", v.A.String())
	require.Equal(t, "20", v.B.String())
	require.False(t, v.C.Valid())
}

var (
	_ encoding.TextMarshaler     = Decimal{}
	_ encoding.TextUnmarshaler   = (*Decimal)(nil)
	_ encoding.BinaryMarshaler   = Decimal{}
	_ encoding.BinaryUnmarshaler = (*Decimal)(nil)
)

// Text and binary forms carry the exact digits and the absent value.
func TestDecimalMarshalersRoundTrip(t *testing.T) {
	for _, in := range []string{"0.01000000", "42", "-0.0", "5.", "123456789012345678901234.5", "1e-3", ""} {
		var d Decimal
		if in != "" {
			d = MustDecimal(in)
		}
		text, err := d.MarshalText()
		require.NoError(t, err)
		require.Equal(t, d.String(), string(text))
		var back Decimal
		require.NoError(t, back.UnmarshalText(text))
		require.Equal(t, d, back, in)

		bin, err := d.MarshalBinary()
		require.NoError(t, err)
		back = MustDecimal("7") // overwritten, absent included
		require.NoError(t, back.UnmarshalBinary(bin))
		require.Equal(t, d, back, in)
	}
	var d Decimal
	require.ErrorIs(t, d.UnmarshalText([]byte("1.2.3")), ErrInvalidDecimal)
	require.ErrorIs(t, d.UnmarshalBinary([]byte("NaN")), ErrInvalidDecimal)
}

// encoding/gob takes rows holding decimals as they are (the spool's case).
func TestDecimalGob(t *testing.T) {
	in := []Candle{{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: TF1m, Open: MustDecimal("0.0100"), High: MustDecimal("-2"),
		Close: MustDecimal("1.65E8"), Closed: true}} // Low and Volume absent
	var buf bytes.Buffer
	require.NoError(t, gob.NewEncoder(&buf).Encode(in))
	var out []Candle
	require.NoError(t, gob.NewDecoder(&buf).Decode(&out))
	require.Equal(t, in, out)
	require.False(t, out[0].Low.Valid())
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"1", "-0.5", "1e5", "1.6575393849546936E8", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecimal(s)
		if err != nil {
			return
		}
		r, ok := new(big.Rat).SetString(d.String())
		if !ok {
			t.Fatalf("%q parsed to %q, not a number", s, d)
		}
		again, err := ParseDecimal(d.String())
		if err != nil || again.Cmp(d) != 0 {
			t.Fatalf("%q does not round-trip: %q", s, d)
		}
		n, scale := d.Unscaled()
		if new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)).Cmp(r) != 0 {
			t.Fatalf("Unscaled(%q) wrong", d)
		}
	})
}

// FuzzCmp holds Cmp to big.Rat on any two decimals ParseDecimal accepts.
func FuzzCmp(f *testing.F) {
	for _, p := range [][2]string{{"1.5", "1.50"}, {"0.5", "0.05"}, {"10", "9.99"}, {"5.", "5.1"}, {"-1", "0"}, {"007", "7"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		da, err := ParseDecimal(a)
		if err != nil {
			return
		}
		db, err := ParseDecimal(b)
		if err != nil {
			return
		}
		ra, _ := new(big.Rat).SetString(strings.TrimSuffix(da.String(), "."))
		rb, _ := new(big.Rat).SetString(strings.TrimSuffix(db.String(), "."))
		if got, want := da.Cmp(db), ra.Cmp(rb); got != want {
			t.Fatalf("%q vs %q: Cmp %d, want %d", da, db, got, want)
		}
	})
}
