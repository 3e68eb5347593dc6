package replaytest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange/registry"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/replay"
)

var (
	btcUSDT = market.Symbol("BTC/USDT")
	ethUSDT = market.Symbol("ETH/USDT")
	solUSDT = market.Symbol("SOL/USDT")
)

// TestAlignment runs every connector, for every kind of data, through a
// real client against the replay: each request must hit a route the
// replay serves with parameters it accepts, and the parsed data must be
// non-empty, for the symbols asked, and sane in time.
func TestAlignment(t *testing.T) {
	s := newServer(t, replay.Options{})
	kinds := []struct {
		name  string
		check func(t *testing.T, c *client, now time.Time)
	}{
		{"markets", checkMarkets},
		{"ticker", func(t *testing.T, c *client, now time.Time) { checkTickers(t, c, now, btcUSDT) }},
		{"tickers", func(t *testing.T, c *client, now time.Time) { checkTickers(t, c, now, btcUSDT, ethUSDT, solUSDT) }},
		{"orderbook", checkOrderBook},
		{"ohlcv recent", func(t *testing.T, c *client, now time.Time) { checkOHLCV(t, c, now, time.Time{}) }},
		{"ohlcv since", func(t *testing.T, c *client, now time.Time) { checkOHLCV(t, c, now, now.Add(-2*time.Hour)) }},
		// A since in the first second of a minute: the exchanges that take
		// whole seconds were asked from the minute's start, and the page
		// came one candle short (a CI run at 02:00:00.x UTC met it).
		{"ohlcv since just past a minute", func(t *testing.T, c *client, now time.Time) {
			checkOHLCV(t, c, now, now.Truncate(time.Minute).Add(-2*time.Hour+300*time.Millisecond))
		}},
		{"trades recent", func(t *testing.T, c *client, now time.Time) { checkTrades(t, c, now, time.Time{}) }},
		{"trades since", func(t *testing.T, c *client, now time.Time) {
			if !c.Capabilities().HistoricalTrades {
				t.Skipf("%s has no public trade history", c.ID())
			}
			checkTrades(t, c, now, now.Add(-30*time.Minute))
		}},
	}
	for _, id := range registry.IDs() {
		t.Run(id, func(t *testing.T) {
			// The exchanges' real rate limits pace some (Kraken, HTX) to a
			// request a second or so; they run side by side.
			t.Parallel()
			c := newClient(t, s, id, clientOpts{})
			for _, k := range kinds {
				t.Run(k.name, func(t *testing.T) { k.check(t, c, time.Now()) })
			}
			// Every request went through without a retry or a failure.
			for _, a := range c.attempts.list() {
				require.Equal(t, 200, a.HTTPStatus, "%s %s attempt %d", a.Exchange, a.Endpoint, a.Attempt)
			}
		})
	}
}

func checkMarkets(t *testing.T, c *client, _ time.Time) {
	ms, err := c.Markets(testCtx(t))
	require.NoError(t, err)
	got := map[market.Symbol]market.Market{}
	for _, m := range ms {
		require.Equal(t, c.ID(), m.Exchange)
		require.NotEmpty(t, m.ID)
		require.Equal(t, market.NewSymbol(m.Base, m.Quote), m.Symbol)
		got[m.Symbol] = m
	}
	for _, want := range replay.DefaultSymbols {
		m, ok := got[market.Symbol(want)]
		require.True(t, ok, "%s missing from %d markets", want, len(ms))
		require.True(t, m.Active, "%s inactive", want)
	}
}

func checkTickers(t *testing.T, c *client, now time.Time, symbols ...market.Symbol) {
	ts, err := c.Tickers(testCtx(t), symbols)
	require.NoError(t, err)
	require.Len(t, ts, len(symbols))
	var got []market.Symbol
	for _, tk := range ts {
		got = append(got, tk.Symbol)
		require.Equal(t, c.ID(), tk.Exchange)
		require.True(t, tk.Last.Valid() && tk.Last.Sign() > 0, "%s last %v", tk.Symbol, tk.Last)
		if tk.Bid.Valid() && tk.Ask.Valid() {
			require.LessOrEqual(t, tk.Bid.Cmp(tk.Ask), 0, "%s bid above ask", tk.Symbol)
		}
		if !tk.Time.IsZero() {
			requireRecent(t, now, tk.Time, "ticker %s", tk.Symbol)
		}
	}
	require.ElementsMatch(t, symbols, got)
}

func checkOrderBook(t *testing.T, c *client, now time.Time) {
	b, err := c.OrderBook(testCtx(t), ethUSDT, 5)
	require.NoError(t, err)
	require.Equal(t, ethUSDT, b.Symbol)
	require.NotEmpty(t, b.Bids)
	require.NotEmpty(t, b.Asks)
	require.LessOrEqual(t, len(b.Bids), 5)
	require.LessOrEqual(t, len(b.Asks), 5)
	for i := 1; i < len(b.Bids); i++ {
		require.Positive(t, b.Bids[i-1].Price.Cmp(b.Bids[i].Price), "bids not descending at %d", i)
	}
	for i := 1; i < len(b.Asks); i++ {
		require.Negative(t, b.Asks[i-1].Price.Cmp(b.Asks[i].Price), "asks not ascending at %d", i)
	}
	require.Negative(t, b.Bids[0].Price.Cmp(b.Asks[0].Price), "crossed book")
	if !b.Time.IsZero() {
		requireRecent(t, now, b.Time, "order book")
	}
}

func checkOHLCV(t *testing.T, c *client, now, since time.Time) {
	const limit = 5
	cs, err := c.OHLCV(testCtx(t), btcUSDT, market.TF1m, since, limit)
	require.NoError(t, err)
	require.NotEmpty(t, cs)
	require.LessOrEqual(t, len(cs), limit)
	for i, k := range cs {
		require.Equal(t, btcUSDT, k.Symbol)
		require.Equal(t, market.TF1m, k.Timeframe)
		require.True(t, k.Time.Equal(k.Time.Truncate(time.Minute)), "candle %d at %s not on a minute", i, k.Time)
		requireRecent(t, now, k.Time, "candle %d", i)
		require.True(t, k.Low.Cmp(k.Open) <= 0 && k.Low.Cmp(k.Close) <= 0 && k.High.Cmp(k.Open) >= 0 && k.High.Cmp(k.Close) >= 0,
			"candle %d OHLC inconsistent: %+v", i, k)
		if k.Closed {
			require.True(t, k.ClosedAt(now), "candle %d marked closed before its end", i)
		}
		if i > 0 {
			require.True(t, k.Time.After(cs[i-1].Time), "candles not ascending at %d", i)
		}
		if i < len(cs)-1 {
			require.True(t, k.ClosedAt(now), "only the last candle may still be open (%d)", i)
		}
	}
	if since.IsZero() {
		require.Len(t, cs, limit)
		// The latest page ends at the current (or the last ended) minute.
		require.False(t, cs[len(cs)-1].Time.Before(now.Truncate(time.Minute).Add(-time.Minute)), "latest candle %s is stale", cs[len(cs)-1].Time)
		return
	}
	require.Len(t, cs, limit)
	first := since.Truncate(time.Minute)
	if first.Before(since) {
		first = first.Add(time.Minute)
	}
	require.True(t, first.Equal(cs[0].Time), "page starts at %s, want %s (since %s)", cs[0].Time, first, since)
}

func checkTrades(t *testing.T, c *client, now, since time.Time) {
	const limit = 10
	ts, err := c.Trades(testCtx(t), ethUSDT, since, limit)
	require.NoError(t, err)
	require.NotEmpty(t, ts)
	require.LessOrEqual(t, len(ts), limit)
	ids := map[string]bool{}
	for i, tr := range ts {
		require.Equal(t, ethUSDT, tr.Symbol)
		require.NotEmpty(t, tr.ID)
		require.False(t, ids[tr.ID], "trade id %s repeated", tr.ID)
		ids[tr.ID] = true
		require.True(t, tr.Price.Sign() > 0 && tr.Amount.Sign() > 0, "trade %d price/amount", i)
		requireRecent(t, now, tr.Time, "trade %d", i)
		if !since.IsZero() {
			require.False(t, tr.Time.Before(since), "trade %d at %s before since %s", i, tr.Time, since)
		}
		if i > 0 {
			require.False(t, tr.Time.Before(ts[i-1].Time), "trades not oldest first at %d", i)
		}
	}
	if !since.IsZero() {
		// A page from since starts near it, not at the latest trades.
		require.True(t, ts[0].Time.Before(since.Add(5*time.Minute)), "first trade %s far after since %s", ts[0].Time, since)
	}
}

// requireRecent: t lies within the last day and not in the future (a
// second's slack for clocks rounding up).
func requireRecent(t *testing.T, now, at time.Time, what string, args ...any) {
	t.Helper()
	require.False(t, at.After(now.Add(time.Second)), append([]any{what + " at %s in the future"}, append(args, at)...)...)
	require.True(t, at.After(now.Add(-24*time.Hour)), append([]any{what + " at %s older than a day"}, append(args, at)...)...)
}
