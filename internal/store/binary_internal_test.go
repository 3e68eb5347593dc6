package store

import (
	"io"
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
