package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/market"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func dec(s string) market.Decimal { return market.MustDecimal(s) }

func ticker(ex string, sym market.Symbol, last string) market.Ticker {
	return market.Ticker{
		Exchange: ex, Symbol: sym, Time: t0.Add(-1500 * time.Millisecond),
		Bid: dec("99.90"), BidVolume: dec("1.5"), Ask: dec("100.10"), Last: dec(last),
		High: dec("110"), Low: dec("90"), BaseVolume: dec("1234.5678"),
	}
}

func book(ex string, sym market.Symbol) market.OrderBook {
	return market.OrderBook{
		Exchange: ex, Symbol: sym, Time: t0, Nonce: 42,
		Bids: []market.Level{{Price: dec("100.00"), Amount: dec("1")}, {Price: dec("99.5"), Amount: dec("2.50")}},
		Asks: []market.Level{{Price: dec("100.5"), Amount: dec("0.001")}},
	}
}

func candle(ex string, sym market.Symbol, tf market.Timeframe, at time.Time, close string) market.Candle {
	return market.Candle{
		Exchange: ex, Symbol: sym, Timeframe: tf, Time: at,
		Open: dec("100"), High: dec("101.50"), Low: dec("99"), Close: dec(close), Volume: dec("12.000"),
	}
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantKey string
	}{
		{"ticker", func(c *Config) { c.Ticker = 0 }, "cache.ttl.ticker"},
		{"orderbook", func(c *Config) { c.OrderBook = -time.Second }, "cache.ttl.orderbook"},
		{"ohlcv timeframe", func(c *Config) { c.OHLCV[market.TF4h] = 0 }, "cache.ttl.ohlcv.4h"},
		{"ohlcv unknown timeframe", func(c *Config) { c.OHLCV["2m"] = time.Minute }, "cache.ttl.ohlcv.2m"},
		{"ohlcv missing timeframe", func(c *Config) { delete(c.OHLCV, market.TF1d) }, "cache.ttl.ohlcv.1d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.Contains(t, err.Error(), tt.wantKey)
			_, err = New(NewMemory(MemoryOptions{}), cfg, Options{})
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

func TestMemoryTTL(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := NewMemory(MemoryOptions{Now: clk.now})
	require.NoError(t, m.Set(ctx, []Entry{{Key: "a", Value: []byte("1"), TTL: 10 * time.Second}, {Key: "b", Value: []byte("2"), TTL: time.Second}}))

	clk.advance(999 * time.Millisecond)
	v, ok, err := m.Get(ctx, "b")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []byte("2"), v)

	clk.advance(time.Millisecond)
	_, ok, _ = m.Get(ctx, "b")
	require.False(t, ok, "expired exactly at its TTL")
	require.Equal(t, 1, m.Len(), "an expired entry is dropped when met")

	_, ok, _ = m.Get(ctx, "a")
	require.True(t, ok)
	clk.advance(9 * time.Second)
	_, ok, _ = m.Get(ctx, "a")
	require.False(t, ok)

	// Update sees an expired value as absent.
	require.NoError(t, m.Set(ctx, []Entry{{Key: "c", Value: []byte("old"), TTL: time.Second}}))
	clk.advance(2 * time.Second)
	require.NoError(t, m.Update(ctx, "c", func(old []byte, found bool) ([]byte, time.Duration, error) {
		require.False(t, found)
		require.Nil(t, old)
		return []byte("new"), time.Second, nil
	}))
	v, ok, _ = m.Get(ctx, "c")
	require.True(t, ok)
	require.Equal(t, []byte("new"), v)
}

func TestMemoryEviction(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(MemoryOptions{MaxEntries: 3})
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, m.Set(ctx, []Entry{{Key: k, Value: []byte(k), TTL: time.Hour}}))
	}
	_, ok, _ := m.Get(ctx, "a") // a is now the most recently used
	require.True(t, ok)
	require.NoError(t, m.Set(ctx, []Entry{{Key: "d", Value: []byte("d"), TTL: time.Hour}}))
	require.Equal(t, 3, m.Len())
	_, ok, _ = m.Get(ctx, "b")
	require.False(t, ok, "least recently used goes first")
	for _, k := range []string{"a", "c", "d"} {
		_, ok, _ = m.Get(ctx, k)
		require.True(t, ok, k)
	}
	// Overwriting does not grow the cache.
	require.NoError(t, m.Set(ctx, []Entry{{Key: "d", Value: []byte("D"), TTL: time.Hour}}))
	require.Equal(t, 3, m.Len())
	many := make([]Entry, 100)
	for i := range many {
		many[i] = Entry{Key: fmt.Sprint("k", i), Value: []byte("x"), TTL: time.Hour}
	}
	require.NoError(t, m.Set(ctx, many))
	require.Equal(t, 3, m.Len())
	_, ok, _ = m.Get(ctx, "k99")
	require.True(t, ok)
}

func TestMemoryCopiesValues(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(MemoryOptions{})
	v := []byte("abc")
	require.NoError(t, m.Set(ctx, []Entry{{Key: "k", Value: v, TTL: time.Hour}}))
	v[0] = 'X'
	got, _, _ := m.Get(ctx, "k")
	require.Equal(t, []byte("abc"), got)
	got[1] = 'Y'
	again, _, _ := m.Get(ctx, "k")
	require.Equal(t, []byte("abc"), again)
}

func newMemoryCache(t *testing.T) (*Cache, *clock, *prometheus.Registry) {
	t.Helper()
	clk := newClock()
	reg := prometheus.NewRegistry()
	c, err := New(NewMemory(MemoryOptions{Now: clk.now}), DefaultConfig(), Options{Registerer: reg, Now: clk.now})
	require.NoError(t, err)
	return c, clk, reg
}

func TestCacheOverMemory(t *testing.T) {
	c, clk, _ := newMemoryCache(t)
	testCache(t, c, clk.advance)
}

// testCache runs the Cache contract over any backend whose TTL clock can be
// advanced.
func testCache(t *testing.T, c *Cache, advance func(time.Duration)) {
	ctx := context.Background()
	require.Equal(t, "memory", c.Backend())

	t.Run("ticker round trip", func(t *testing.T) {
		tk := ticker("binance", "BTC/USDT", "100.00")
		require.NoError(t, c.SetTicker(ctx, tk))
		got, ok, err := c.GetTicker(ctx, "binance", "BTC/USDT")
		require.NoError(t, err)
		require.True(t, ok)
		tk.Time = tk.Time.Truncate(time.Millisecond)
		require.Equal(t, tk, got)

		raw, ok, err := c.GetJSON(ctx, market.TypeTicker, "binance", "BTC/USDT")
		require.NoError(t, err)
		require.True(t, ok)
		want, err := json.Marshal(tk)
		require.NoError(t, err)
		require.JSONEq(t, string(want), string(raw))
		require.Contains(t, string(raw), `"last":100.00`, "the exchange's digits")

		advance(DefaultConfig().Ticker)
		_, ok, err = c.GetTicker(ctx, "binance", "BTC/USDT")
		require.NoError(t, err)
		require.False(t, ok, "expired at cache.ttl.ticker")
	})
	t.Run("tickers batch", func(t *testing.T) {
		batch := []market.Ticker{ticker("okx", "BTC/USDT", "1"), ticker("okx", "ETH/USDT", "2"), ticker("kraken", "BTC/USDT", "3")}
		require.NoError(t, c.SetTickers(ctx, batch))
		for _, tk := range batch {
			got, ok, err := c.GetTicker(ctx, tk.Exchange, tk.Symbol)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, tk.Last, got.Last)
		}
	})
	t.Run("order book round trip", func(t *testing.T) {
		b := book("kraken", "BTC/USD")
		require.NoError(t, c.SetOrderBook(ctx, b))
		got, ok, err := c.GetOrderBook(ctx, "kraken", "BTC/USD")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, b, got)
		advance(DefaultConfig().OrderBook)
		_, ok, _ = c.GetOrderBook(ctx, "kraken", "BTC/USD")
		require.False(t, ok)
	})
	t.Run("candles per timeframe", func(t *testing.T) {
		at := t0.Truncate(time.Minute)
		older := candle("binance", "ETH/BTC", market.TF1m, at.Add(-time.Minute), "100.1")
		newest := candle("binance", "ETH/BTC", market.TF1m, at, "100.2")
		daily := candle("binance", "ETH/BTC", market.TF1d, at.Truncate(24*time.Hour), "99.5")
		daily.Closed = true
		require.NoError(t, c.SetCandles(ctx, []market.Candle{older, newest, daily}))

		got, ok, err := c.GetCandle(ctx, "binance", "ETH/BTC", market.TF1m)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, newest, got)
		got, ok, err = c.GetCandle(ctx, "binance", "ETH/BTC", market.TF1d)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, daily, got)
		_, ok, err = c.GetCandle(ctx, "binance", "ETH/BTC", market.TF1h)
		require.NoError(t, err)
		require.False(t, ok)

		// An older candle (a backfill) does not replace the latest.
		require.NoError(t, c.SetCandle(ctx, older))
		got, _, _ = c.GetCandle(ctx, "binance", "ETH/BTC", market.TF1m)
		require.Equal(t, newest.Close, got.Close)
		// The same period again (the open candle updated) does.
		updated := newest
		updated.Close = dec("100.3")
		require.NoError(t, c.SetCandle(ctx, updated))
		got, _, _ = c.GetCandle(ctx, "binance", "ETH/BTC", market.TF1m)
		require.Equal(t, dec("100.3"), got.Close)

		raw, ok, err := c.GetJSON(ctx, market.TypeOHLCV, "binance", "ETH/BTC")
		require.NoError(t, err)
		require.True(t, ok)
		var v map[string]struct {
			OHLCV   []json.Number `json:"ohlcv"`
			Closed  bool          `json:"closed"`
			Expires int64         `json:"expires"`
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		require.NoError(t, d.Decode(&v))
		require.Len(t, v, 2)
		require.Equal(t, []json.Number{json.Number(fmt.Sprint(at.UnixMilli())), "100", "101.50", "99", "100.3", "12.000"}, v["1m"].OHLCV)
		require.True(t, v["1d"].Closed)

		// 1m expires after 2m, 1d lives on (1h).
		advance(DefaultConfig().OHLCV[market.TF1m])
		_, ok, _ = c.GetCandle(ctx, "binance", "ETH/BTC", market.TF1m)
		require.False(t, ok)
		_, ok, _ = c.GetCandle(ctx, "binance", "ETH/BTC", market.TF1d)
		require.True(t, ok)
		raw, ok, _ = c.GetJSON(ctx, market.TypeOHLCV, "binance", "ETH/BTC")
		require.True(t, ok)
		require.NotContains(t, string(raw), `"1m"`)

		advance(time.Hour)
		_, ok, _ = c.GetCandle(ctx, "binance", "ETH/BTC", market.TF1d)
		require.False(t, ok)
		_, ok, _ = c.GetJSON(ctx, market.TypeOHLCV, "binance", "ETH/BTC")
		require.False(t, ok)
	})
	t.Run("bad input", func(t *testing.T) {
		require.ErrorIs(t, c.SetTicker(ctx, ticker("", "BTC/USDT", "1")), ErrMissingKey)
		require.ErrorIs(t, c.SetOrderBook(ctx, book("binance", "")), ErrMissingKey)
		require.ErrorIs(t, c.SetCandle(ctx, candle("binance", "BTC/USDT", "2m", t0, "1")), ErrUnknownTimeframe)
		_, _, err := c.GetJSON(ctx, market.TypeTrades, "binance", "BTC/USDT")
		require.ErrorIs(t, err, ErrUnknownKind)
		_, _, err = c.GetTicker(ctx, "binance", "")
		require.ErrorIs(t, err, ErrMissingKey)
	})
}

func TestCacheKeysAndMetrics(t *testing.T) {
	ctx := context.Background()
	c, _, reg := newMemoryCache(t)
	require.Equal(t, "mdingest:ticker:binance:BTC/USDT", c.Key(market.TypeTicker, "binance", "BTC/USDT"))
	require.Equal(t, "mdingest:ohlcv:kraken:ETH/EUR", c.Key(market.TypeOHLCV, "kraken", "ETH/EUR"))

	require.NoError(t, c.SetTicker(ctx, ticker("binance", "BTC/USDT", "1")))
	_, _, _ = c.GetTicker(ctx, "binance", "BTC/USDT")
	_, _, _ = c.GetTicker(ctx, "binance", "ETH/USDT")
	_, _, _ = c.GetOrderBook(ctx, "binance", "ETH/USDT")
	_ = c.SetTicker(ctx, ticker("binance", "", "1"))

	require.Equal(t, 1.0, testutil.ToFloat64(c.m.hits.WithLabelValues("ticker")))
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.misses.WithLabelValues("ticker")))
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.misses.WithLabelValues("orderbook")))
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.errors.WithLabelValues("set")))
	// Every series exists from the start: 3 kinds of hits and misses, 3 ops of errors.
	n, err := testutil.GatherAndCount(reg, "cache_hits_total", "cache_misses_total", "cache_errors_total")
	require.NoError(t, err)
	require.Equal(t, 9, n)

	// A corrupt value is an error, not a panic or a hit.
	m := c.b.(*Memory)
	require.NoError(t, m.Set(ctx, []Entry{{Key: c.Key(market.TypeTicker, "x", "A/B"), Value: []byte("{"), TTL: time.Hour}}))
	_, ok, err := c.GetTicker(ctx, "x", "A/B")
	require.ErrorIs(t, err, ErrCorrupt)
	require.False(t, ok)

	_, err = New(m, DefaultConfig(), Options{Registerer: reg})
	require.Error(t, err, "registering twice on one registry")
}

func TestCacheConcurrentCandles(t *testing.T) {
	c, _, _ := newMemoryCache(t)
	testConcurrentCandles(t, c)
}

// testConcurrentCandles writes every timeframe of one key from its own
// goroutine: Update must not lose any of them.
func testConcurrentCandles(t *testing.T, c *Cache) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, tf := range market.Timeframes() {
		wg.Go(func() {
			for i := range 20 {
				k := candle("bybit", "SOL/USDT", tf, t0.Truncate(24*time.Hour).Add(time.Duration(i)*tf.Duration()), "1")
				if err := c.SetCandle(ctx, k); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for _, tf := range market.Timeframes() {
		got, ok, err := c.GetCandle(ctx, "bybit", "SOL/USDT", tf)
		require.NoError(t, err)
		require.True(t, ok, tf)
		require.Equal(t, t0.Truncate(24*time.Hour).Add(19*tf.Duration()), got.Time, tf)
	}
}
