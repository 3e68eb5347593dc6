package replaytest

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/replay"
)

// TestDerivedDataIsPlausible (issue 14 §4): what exchange-replay derives
// looks like a market, read through every connector: each symbol has its
// own price level; the exchanges quote a symbol within a fraction of a
// percent of each other; each book sits around its own ticker; and every
// trade lies within its minute candle. At a spread of fixed instants, as
// the derived data depends on the clock.
func TestDerivedDataIsPlausible(t *testing.T) {
	for i := range 12 {
		at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 31 * time.Hour).Add(time.Duration(i*i) * 7 * time.Minute)
		t.Run(at.Format(time.RFC3339), func(t *testing.T) { derivedDataIsPlausible(t, at) })
	}
}

func derivedDataIsPlausible(t *testing.T, at time.Time) {
	s := newServer(t, replay.Options{Symbols: []string{"BTC/USDT", "ETH/USDT", "SOL/USDT"}, Now: func() time.Time { return at }})
	ctx := testCtx(t)
	syms := []market.Symbol{"BTC/USDT", "ETH/USDT", "SOL/USDT"}
	last := map[market.Symbol]map[string]float64{}
	for _, sym := range syms {
		last[sym] = map[string]float64{}
	}
	for _, id := range replay.Exchanges {
		// The budget is not what this test is about.
		c := newClient(t, s, id, clientOpts{budget: exchange.RateLimit{Limit: 1000, Window: time.Second, Burst: 1000}})
		tickers, err := c.Tickers(ctx, syms)
		require.NoError(t, err, id)
		require.Len(t, tickers, len(syms), id)
		for _, tk := range tickers {
			bid, ask, lst := tk.Bid.Float64(), tk.Ask.Float64(), tk.Last.Float64()
			require.Positive(t, bid, "%s %s", id, tk.Symbol)
			require.Less(t, bid, ask, "%s %s: bid below ask", id, tk.Symbol)
			require.InEpsilon(t, (bid+ask)/2, lst, 0.002, "%s %s: last near the spread", id, tk.Symbol)
			last[tk.Symbol][id] = lst

			book, err := c.OrderBook(ctx, tk.Symbol, 20)
			require.NoError(t, err, id)
			require.NotEmpty(t, book.Bids, id)
			require.NotEmpty(t, book.Asks, id)
			bestBid, bestAsk := book.Bids[0].Price.Float64(), book.Asks[0].Price.Float64()
			require.Less(t, bestBid, bestAsk, "%s %s: book crossed", id, tk.Symbol)
			require.InEpsilon(t, lst, (bestBid+bestAsk)/2, 0.002, "%s %s: book around the ticker", id, tk.Symbol)
			for i := 1; i < len(book.Bids); i++ {
				require.Less(t, book.Bids[i].Price.Float64(), book.Bids[i-1].Price.Float64(), "%s %s bids", id, tk.Symbol)
			}
			for i := 1; i < len(book.Asks); i++ {
				require.Greater(t, book.Asks[i].Price.Float64(), book.Asks[i-1].Price.Float64(), "%s %s asks", id, tk.Symbol)
			}
		}
		candlesAgreeWithTrades(t, c, id)
	}
	for _, sym := range syms {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, p := range last[sym] {
			lo, hi = math.Min(lo, p), math.Max(hi, p)
		}
		require.Less(t, hi/lo-1, 0.005, "%s: exchanges within half a percent: %v", sym, last[sym])
	}
	require.Greater(t, last["BTC/USDT"]["binance"]/last["ETH/USDT"]["binance"], 5.0, "each symbol its own level")
	require.Greater(t, last["ETH/USDT"]["binance"]/last["SOL/USDT"]["binance"], 5.0, "each symbol its own level")
}

// candlesAgreeWithTrades reads the latest trades of BTC/USDT and the 1m
// candles they fall in: each trade lies within its candle's low and high.
func candlesAgreeWithTrades(t *testing.T, c *client, id string) {
	t.Helper()
	ctx := testCtx(t)
	trades, err := c.Trades(ctx, "BTC/USDT", time.Time{}, 0)
	require.NoError(t, err, id)
	require.NotEmpty(t, trades, id)
	// A minute early: some exchanges' since is exclusive.
	first := trades[0].Time.Truncate(time.Minute).Add(-time.Minute)
	candles, err := c.OHLCV(ctx, "BTC/USDT", market.TF1m, first, 300)
	require.NoError(t, err, id)
	byOpen := map[time.Time]market.Candle{}
	for _, k := range candles {
		byOpen[k.Time] = k
	}
	for _, tr := range trades {
		k, ok := byOpen[tr.Time.Truncate(time.Minute)]
		require.True(t, ok, "%s: no candle for the trade at %s", id, tr.Time)
		p := tr.Price.Float64()
		require.GreaterOrEqual(t, p, k.Low.Float64(), "%s: trade at %s below its candle's low", id, tr.Time)
		require.LessOrEqual(t, p, k.High.Float64(), "%s: trade at %s above its candle's high", id, tr.Time)
	}
}
