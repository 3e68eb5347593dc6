package replay

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestUnion(t *testing.T) {
	tests := []struct {
		name  string
		spans []span
		add   span
		want  []span
	}{
		{"empty", nil, span{3, 5}, []span{{3, 5}}},
		{"after, apart", []span{{1, 2}}, span{4, 5}, []span{{1, 2}, {4, 5}}},
		{"after, adjacent", []span{{1, 2}}, span{3, 5}, []span{{1, 5}}},
		{"before, apart", []span{{4, 5}}, span{1, 2}, []span{{1, 2}, {4, 5}}},
		{"inside", []span{{1, 9}}, span{3, 4}, []span{{1, 9}}},
		{"bridges two", []span{{1, 2}, {6, 7}, {10, 11}}, span{3, 5}, []span{{1, 7}, {10, 11}}},
		{"covers all", []span{{2, 3}, {6, 7}}, span{0, 9}, []span{{0, 9}}},
		{"between", []span{{1, 2}, {8, 9}}, span{5, 5}, []span{{1, 2}, {5, 5}, {8, 9}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, union(tc.spans, tc.add))
		})
	}
}

// TestKeyLog: overlapping polls count each key once; answers a fault
// changed, errors and other exchanges don't count; a stats reset clears
// the keys but leaves the log on.
func TestKeyLog(t *testing.T) {
	f := newFixture(t, Options{})
	keys := func() map[string]map[string]int64 {
		var stats map[string]ExchangeStats
		require.NoError(t, json.Unmarshal(f.get(t, "/_admin/stats").body, &stats))
		out := map[string]map[string]int64{}
		for ex, s := range stats {
			out[ex] = s.Keys
		}
		return out
	}
	f.get(t, "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=5")
	require.Empty(t, keys()["binance"], "off unless asked for")

	require.Equal(t, http.StatusOK, f.do(t, http.MethodPost, "/_admin/keylog", nil).status)
	f.get(t, "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=5")
	f.clock.Add(2 * time.Minute)
	f.get(t, "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=5") // 2 new, 3 again
	f.get(t, "/binance/api/v3/klines?symbol=ETHUSDT&interval=1m&limit=5")
	f.get(t, "/binance/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=2")
	f.get(t, "/binance/api/v3/klines?symbol=NOPE&interval=1m&limit=5")
	f.get(t, "/binance/api/v3/trades?symbol=BTCUSDT&limit=10")
	f.get(t, "/binance/api/v3/trades?symbol=BTCUSDT&limit=10") // the same trades
	f.get(t, "/binance/api/v3/ticker/24hr")
	f.get(t, "/binance/api/v3/depth?symbol=BTCUSDT&limit=5")
	f.get(t, "/binance/api/v3/depth?symbol=BTCUSDT&limit=5")
	require.NoError(t, f.h.AddFaults(Fault{Exchange: "binance", Effect: effectTruncate}))
	f.get(t, "/binance/api/v3/klines?symbol=SOLUSDT&interval=1m&limit=5")
	f.get(t, "/binance/api/v3/ticker/24hr")
	f.h.ClearFaults()

	var stats map[string]ExchangeStats
	require.NoError(t, json.Unmarshal(f.get(t, "/_admin/stats").body, &stats))
	tickers := stats["binance"].Rows["ticker"] / 2 // one intact answer of two
	require.Equal(t, map[string]int64{"ohlcv": 7 + 5 + 2, "trades": 10, "ticker": tickers, "orderbook": 2},
		stats["binance"].Keys)
	require.Equal(t, int64(5+5+5+2+5+5), stats["binance"].Rows["ohlcv"], "rows count every row served, cut or not")

	f.h.ResetStats()
	f.get(t, "/okx/api/v5/market/trades?instId=BTC-USDT&limit=4")
	require.Equal(t, map[string]map[string]int64{"okx": {"trades": 4}}, keys())
}
