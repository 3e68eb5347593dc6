package store

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
)

func TestNumericTextRoundTrip(t *testing.T) {
	for _, s := range []string{"0", "1", "-1", "0.5", "101.00000000", "0.00000001", "0.0001", "10000", "12345678.9",
		"-0.000123", "99999999999999999999.99999999999999999999", "1.10", "100000000", "0.10000"} {
		raw, err := appendNumeric(nil, s)
		require.NoError(t, err, s)
		got, err := numericText(raw)
		require.NoError(t, err)
		require.Equal(t, s, got)
	}
}

// The encoder agrees with PostgreSQL's text form for any plain decimal.
func TestNumericRandomRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		return string(b)
	}
	for range 50_000 {
		s := digits(1 + rng.IntN(25))
		if rng.IntN(2) == 0 {
			s += "." + digits(1+rng.IntN(25))
		}
		if rng.IntN(4) == 0 {
			s = "-" + s
		}
		raw, err := appendNumeric(nil, s)
		require.NoError(t, err, s)
		got, err := numericText(raw)
		require.NoError(t, err)
		want := market.MustDecimal(s)
		require.Zero(t, want.Cmp(market.MustDecimal(got)), "%s became %s", s, got)
		_, frac, _ := strings.Cut(s, ".")
		_, gotFrac, _ := strings.Cut(got, ".")
		require.Len(t, gotFrac, len(frac), "the scale survives: %s became %s", s, got)
	}
}

func TestNumericEqualIgnoresScale(t *testing.T) {
	var sc []byte
	raw, err := appendNumeric(nil, "1.50")
	require.NoError(t, err)
	require.True(t, numericEqual(raw, market.MustDecimal("1.5"), &sc))
	require.True(t, numericEqual(raw, market.MustDecimal("001.500000"), &sc))
	require.False(t, numericEqual(raw, market.MustDecimal("1.51"), &sc))
	require.False(t, numericEqual(raw, market.MustDecimal("-1.5"), &sc))
	require.False(t, numericEqual(nil, market.MustDecimal("1.5"), &sc))
	require.True(t, numericEqual(nil, market.Decimal{}, &sc))
	zero, err := appendNumeric(nil, "0.000")
	require.NoError(t, err)
	require.True(t, numericEqual(zero, market.MustDecimal("0"), &sc))
}

func TestBinaryRowsStream(t *testing.T) {
	rows := make([]market.Candle, 3000) // several refills of the reader
	for i := range rows {
		rows[i] = market.Candle{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: market.TF1m,
			Time: time.Unix(int64(i)*60, 0), Open: market.MustDecimal("1"), High: market.MustDecimal("1"),
			Low: market.MustDecimal("1"), Close: market.MustDecimal("1"), Volume: market.MustDecimal("1")}
	}
	var want []byte
	want = append(want, copyHeader...)
	for _, r := range rows {
		want = candles.binary(want, r)
	}
	want = append(want, 0xff, 0xff)
	got, err := io.ReadAll(io.LimitReader(newBinaryRows(rows, candles.binary), int64(len(want))+10))
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, int64(946_684_800_000_000), -pgMicros(time.Unix(0, 0)), "PostgreSQL counts from 2000")
}

// The one-pass encoder writes what the plain algorithm it replaced wrote,
// byte for byte, for any plain decimal (zeros, leading and trailing zero
// groups, long fractions).
func TestNumericMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
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
	cases := []string{"0", "0.0", "00.000", "-0.00", "10000", "100000000.0000", "0.00000001", "0.000100000", "1", "9999.9999"}
	for range 100_000 {
		s := digits(1 + rng.IntN(30))
		if rng.IntN(3) > 0 {
			s += "." + digits(rng.IntN(30))
		}
		if rng.IntN(4) == 0 {
			s = "-" + s
		}
		cases = append(cases, s)
	}
	for _, s := range cases {
		got, err := appendNumeric([]byte("x"), s)
		require.NoError(t, err, s)
		want, err := referenceNumeric([]byte("x"), s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
}

// referenceNumeric is the encoder appendNumeric replaced: digits into
// groups, then the zero groups trimmed.
func referenceNumeric(buf []byte, s string) ([]byte, error) {
	var sign uint16
	if len(s) > 0 && s[0] == '-' {
		sign, s = 0x4000, s[1:]
	}
	intPart, frac := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i+1:]
	}
	for len(intPart) > 0 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	if len(frac) > 0x3FFF {
		return nil, fmt.Errorf("numeric scale %d too large", len(frac))
	}
	// Groups of four digits aligned on the point: the integer part's first
	// group takes what is left over, the fraction's last is padded.
	nInt := (len(intPart) + 3) / 4
	var arr [64]uint16
	groups := arr[:0]
	if n := nInt + (len(frac)+3)/4; n > len(arr) {
		groups = make([]uint16, 0, n)
	}
	left := len(intPart) % 4
	if left == 0 {
		left = 4
	}
	var g uint16
	for i := 0; i < len(intPart); i++ {
		g = g*10 + uint16(intPart[i]-'0')
		if left--; left == 0 {
			groups, g, left = append(groups, g), 0, 4
		}
	}
	for i := 0; i < len(frac); i += 4 {
		g = 0
		for k := i; k < i+4; k++ {
			g *= 10
			if k < len(frac) {
				g += uint16(frac[k] - '0')
			}
		}
		groups = append(groups, g)
	}
	weight := nInt - 1
	for len(groups) > 0 && groups[0] == 0 { // leading zero groups (values below 1)
		groups = groups[1:]
		weight--
	}
	for len(groups) > 0 && groups[len(groups)-1] == 0 {
		groups = groups[:len(groups)-1]
	}
	if len(groups) == 0 {
		weight, sign = 0, 0
	}
	if weight > 0x7FFF || weight < -0x8000 {
		return nil, fmt.Errorf("numeric weight %d out of range", weight)
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(groups)))
	buf = binary.BigEndian.AppendUint16(buf, uint16(int16(weight)))
	buf = binary.BigEndian.AppendUint16(buf, sign)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(frac)))
	for _, g := range groups {
		buf = binary.BigEndian.AppendUint16(buf, g)
	}
	return buf, nil
}
