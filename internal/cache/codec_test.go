package cache

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
)

func TestDecodeCCXT(t *testing.T) {
	tk, err := decodeTicker([]byte(`{"symbol":"BTC/USDT","timestamp":1709294400123,"datetime":"2024-03-01T12:00:00.123Z","bid":"99.9","ask":100.1,"last":null}`), "okx")
	require.NoError(t, err)
	require.Equal(t, market.Ticker{
		Exchange: "okx", Symbol: "BTC/USDT", Time: time.UnixMilli(1709294400123).UTC(),
		Bid: dec("99.9"), Ask: dec("100.1"),
	}, tk)

	tk, err = decodeTicker([]byte(`{"symbol":"BTC/USDT","timestamp":null,"last":1}`), "okx")
	require.NoError(t, err)
	require.True(t, tk.Time.IsZero())

	_, err = decodeTicker([]byte(`{"bid":"abc"}`), "okx")
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = decodeOrderBook([]byte(`{"bids":[["x",1]]}`), "okx")
	require.ErrorIs(t, err, ErrCorrupt)

	var k ccxtCandle
	require.Error(t, json.Unmarshal([]byte(`[1,2,3]`), &k))
	require.Error(t, json.Unmarshal([]byte(`["x",1,2,3,4,5]`), &k))
	require.NoError(t, json.Unmarshal([]byte(`[1709294400000,"1.0",2,0.5,1.5,"0"]`), &k))
	require.Equal(t, dec("1.0"), k.Open)
	require.Equal(t, dec("0"), k.Volume)
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"symbol":"A/B","timestamp":1,"bids":[[1,2]],"asks":[],"1m":{"ohlcv":[1,1,1,1,1,1],"expires":2}}`))
	f.Add([]byte(`[1709294400000,1,2,0.5,1.5,10]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if tk, err := decodeTicker(b, "x"); err == nil {
			out, err := json.Marshal(tk)
			require.NoError(t, err)
			again, err := decodeTicker(out, "x")
			require.NoError(t, err)
			require.Equal(t, tk.Last, again.Last)
		}
		_, _ = decodeOrderBook(b, "x")
		var v ohlcvValue
		_ = json.Unmarshal(b, &v)
		var k ccxtCandle
		if json.Unmarshal(b, &k) == nil {
			out, err := json.Marshal(k)
			require.NoError(t, err)
			var again ccxtCandle
			require.NoError(t, json.Unmarshal(out, &again))
			require.Equal(t, k.Close, again.Close)
			require.Equal(t, k.Time.UnixMilli(), again.Time.UnixMilli())
		}
	})
}
