package store

import (
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
