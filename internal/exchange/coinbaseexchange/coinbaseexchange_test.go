package coinbaseexchange

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

var suite = exchangetest.Suite{
	Exchange: ID,
	New:      func(r exchange.Requester) exchange.Connector { return New(r) },
	Routes: map[string]string{
		"/products":                 "products.json",
		"/products/":                "fetchTicker/public spot ticker",
		"/products/BTC-USD/book":    "book-level2.json",
		"/products/BTC-USD/candles": "fetchOHLCV/public spot ohlcv",
		"/products/BTC-USD/trades":  "fetchTrades/public spot trades",
	},
	// No Justified: Coinbase's ticker has no quote volume, so CCXT derives
	// no vwap.
	// CCXT's fetchTickers calls /products/spark-lines (an undocumented chart
	// endpoint without bid/ask); we call each product's documented /ticker.
	SkipURL:     func(c exchangetest.Case) bool { return c.Method == "fetchTickers" },
	ParityCases: 3,
	URLCases:    4,
	Parsers: exchangetest.FuzzConfig{
		Testdata: []string{"products.json", "book-level2.json"},
		Seeds:    []string{`[[1710327600,1,2,3,4,5]]`},
		Markets:  parseMarkets, Ticker: parseTicker,
		OrderBook: func(b []byte) (market.OrderBook, error) { return parseOrderBook(b, 0) },
		Candles:   parseCandles, Trades: parseTrades,
	},
}

func TestParity(t *testing.T)      { suite.Parity(t) }
func TestRequestURLs(t *testing.T) { suite.RequestURLs(t) }
func FuzzParse(f *testing.F)       { suite.Fuzz(f) }

func TestConformance(t *testing.T) {
	fake := suite.Fake(t)
	conn := New(fake)
	// 4h candles are built from the recorded 1h candle: anchor the window there.
	conn.now = func() time.Time { return time.Unix(1710327600, 0) }
	exchangetest.Run(t, conn, fake, exchangetest.Config{Symbol: "BTC/USD", Depth: 2})
}

func TestMarketsDocExample(t *testing.T) {
	ms, err := parseMarkets([]byte(exchangetest.ReadTestdata(t, "products.json")))
	require.NoError(t, err)
	require.Equal(t, []market.Market{{
		Exchange: ID, ID: "BTC-USD", Symbol: "BTC/USD", Base: "BTC", Quote: "USD",
		BaseID: "BTC", QuoteID: "USD", Active: true, Type: "spot",
	}}, ms)
	ms, err = parseMarkets([]byte(`[{"id":"CGLD-USD","status":"delisted"}]`))
	require.NoError(t, err)
	require.Equal(t, market.Symbol("CELO/USD"), ms[0].Symbol, "CCXT renames CGLD")
	require.False(t, ms[0].Active)
	require.Equal(t, "CGLD-USD", deriveID("CELO/USD"))
}

func TestOrderBookDocExample(t *testing.T) {
	fake := suite.Fake(t)
	b, err := New(fake).OrderBook(context.Background(), "BTC/USD", 1)
	require.NoError(t, err)
	require.Equal(t, "/products/BTC-USD/book?level=2", fake.Last().Path)
	require.Equal(t, int64(3), b.Nonce)
	require.Equal(t, "2024-03-13T11:10:41.270099Z", b.Time.Format(time.RFC3339Nano))
	require.Equal(t, []market.Level{{Price: market.MustDecimal("295.96"), Amount: market.MustDecimal("4.39088265")}}, b.Bids)
	require.Equal(t, []market.Level{{Price: market.MustDecimal("295.97"), Amount: market.MustDecimal("25.23542881")}}, b.Asks)
}

func TestOHLCV(t *testing.T) {
	t.Run("since window", func(t *testing.T) {
		fake := exchangetest.FuncRequester(func(exchange.Request) ([]byte, error) { return nil, exchangetest.ErrNoAnswer })
		_, err := New(fake).OHLCV(context.Background(), "BTC/USDT", market.TF1h, time.UnixMilli(1710327600000), 3)
		require.ErrorIs(t, err, exchangetest.ErrNoAnswer)
		require.Equal(t, "/products/BTC-USDT/candles?end=2024-03-13T13%3A00%3A00.000Z&granularity=3600&start=2024-03-13T11%3A00%3A00.000Z", fake.Last().Path)
	})
	t.Run("4h from 1h", func(t *testing.T) {
		// 1h rows, newest first: [time, low, high, open, close, volume].
		body := `[[1710331200,5,9,6,8,1.5],[1710327600,4,7,5,6,0.25],[1710324000,3,6,4,5,1],[1710320400,1,2,1.5,1.75,2],[1710316800,2,5,3,4,0.5]]`
		fake := exchangetest.NewRequester(map[string]string{"/": body})
		conn := New(fake)
		conn.now = func() time.Time { return time.Unix(1710331200+1800, 0) } // 12:30 UTC
		cs, err := conn.OHLCV(context.Background(), "BTC/USDT", market.TF4h, time.Time{}, 2)
		require.NoError(t, err)
		require.Equal(t, "/products/BTC-USDT/candles?end=2024-03-13T15%3A00%3A00.000Z&granularity=3600&start=2024-03-13T08%3A00%3A00.000Z", fake.Last().Path)
		require.Len(t, cs, 2)
		// 08:00 bucket: the 08..11h rows; 12:00 bucket: the 12h row so far.
		require.Equal(t, time.Date(2024, 3, 13, 8, 0, 0, 0, time.UTC), cs[0].Time)
		require.Equal(t, []string{"3", "7", "1", "6", "3.75"}, []string{cs[0].Open.String(), cs[0].High.String(), cs[0].Low.String(), cs[0].Close.String(), cs[0].Volume.String()})
		require.Equal(t, time.Date(2024, 3, 13, 12, 0, 0, 0, time.UTC), cs[1].Time)
		require.Equal(t, "1.5", cs[1].Volume.String())
		require.Equal(t, market.TF4h, cs[1].Timeframe)
	})
}

func TestCheckBody(t *testing.T) {
	exchangetest.CheckBodyCases(t, CheckBody, map[string]error{
		`{"ask":"1","bid":"1","price":"1"}`: nil,
		`[]`:                                nil,
		`{"message":"NotFound"}`:            exchange.ErrBodyError,
	})
}

func TestSpec(t *testing.T) {
	s := Spec()
	require.Equal(t, "https://api.exchange.coinbase.com", s.BaseURL)
	require.Equal(t, exchange.RateLimit{Unit: "calls", Limit: 10, Window: time.Second, Kind: "bucket", Burst: 15}, s.RateLimit)
}
