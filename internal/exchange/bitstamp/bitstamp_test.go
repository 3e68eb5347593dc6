package bitstamp

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
		"/api/v2/markets/":      "markets.json",
		"/api/v2/ticker/":       "tickers.json",
		"/api/v2/ticker/btcusd": "fetchTicker/public spot ticker",
		"/api/v2/order_book/":   "order_book.json",
		"/api/v2/ohlc/":         "fetchOHLCV/public spot ohlcv",
		"/api/v2/transactions/": "fetchTrades/public spot trades",
	},
	Symbol: "BTC/USD", Depth: 2,
	// No Justified: Bitstamp sends vwap, and quote volume is computed
	// exactly as CCXT does.
	ParityCases: 3,
	URLCases:    5,
	Parsers: exchangetest.FuzzConfig{
		Testdata: []string{"markets.json", "tickers.json", "order_book.json"},
		Seeds:    []string{`{"microtimestamp":"1","bids":[["1","2"]],"asks":[]}`},
		Markets:  parseMarkets, Ticker: parseTicker,
		Tickers: func(b []byte) ([]market.Ticker, error) {
			return parseTickers(b, func(market.Symbol) bool { return true })
		},
		OrderBook: func(b []byte) (market.OrderBook, error) { return parseOrderBook(b, 0) },
		Candles:   parseCandles, Trades: parseTrades, BookTime: true,
	},
}

func TestParity(t *testing.T)      { suite.Parity(t) }
func TestRequestURLs(t *testing.T) { suite.RequestURLs(t) }
func TestConformance(t *testing.T) { suite.Conformance(t) }
func FuzzParse(f *testing.F)       { suite.Fuzz(f) }

func TestMarketsDocExample(t *testing.T) {
	ms, err := parseMarkets([]byte(exchangetest.ReadTestdata(t, "markets.json")))
	require.NoError(t, err)
	require.Equal(t, []market.Market{{
		Exchange: ID, ID: "btcusd", Symbol: "BTC/USD", Base: "BTC", Quote: "USD",
		BaseID: "BTC", QuoteID: "USD", Active: true, Type: "spot",
	}}, ms, "the perpetual is not spot")
}

func TestAllTickersDocExample(t *testing.T) {
	fake := suite.Fake(t)
	ts, err := New(fake).Tickers(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, "/api/v2/ticker/", fake.Last().Path)
	require.Len(t, ts, 1)
	tk := ts[0]
	require.Equal(t, market.Symbol("BTC/USD"), tk.Symbol)
	require.Equal(t, "btcusd", tk.ExchangeSymbol)
	require.Equal(t, time.Unix(1643640186, 0).UTC(), tk.Time)
	require.Equal(t, "38185.31", tk.Bid.String())
	require.Equal(t, "38472.82", tk.Open.String())
	require.Equal(t, "38185.32", tk.VWAP.String())
	require.Equal(t, "40327740.6063199044", tk.QuoteVolume.String(), "volume × vwap, exactly")

	ts, err = New(fake).Tickers(context.Background(), []market.Symbol{"ETH/USD", "LTC/USD"})
	require.NoError(t, err)
	require.Empty(t, ts, "only the asked symbols")
}

func TestOrderBookDocExample(t *testing.T) {
	fake := suite.Fake(t)
	b, err := New(fake).OrderBook(context.Background(), "BTC/USD", 1)
	require.NoError(t, err)
	require.Equal(t, "/api/v2/order_book/btcusd/", fake.Last().Path)
	require.Equal(t, int64(1643643584684047), b.Nonce)
	require.Equal(t, int64(1643643584684047), b.Time.UnixMicro())
	require.Equal(t, []market.Level{{Price: market.MustDecimal("38185.31"), Amount: market.MustDecimal("0.02620000")}}, b.Bids)
	require.Len(t, b.Asks, 1)
}

func TestRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(exchange.Connector) error
		want string
	}{
		{"ohlcv since", func(c exchange.Connector) error {
			_, err := c.OHLCV(context.Background(), "BTC/USDT", market.TF4h, time.Unix(1710316800, 0), 2)
			return err
		}, "/api/v2/ohlc/btcusdt/?end=1710345599&limit=2&start=1710316800&step=14400"},
		{"trades since", func(c exchange.Connector) error {
			_, err := c.Trades(context.Background(), "USTC/USD", time.Unix(1710316800, 0), 0)
			return err
		}, "/api/v2/transactions/ustusd/?time=day"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := exchangetest.FuncRequester(func(exchange.Request) ([]byte, error) { return nil, exchangetest.ErrNoAnswer })
			require.ErrorIs(t, tc.call(New(fake)), exchangetest.ErrNoAnswer)
			require.Equal(t, tc.want, fake.Last().Path)
		})
	}
}

func TestCheckBody(t *testing.T) {
	exchangetest.CheckBodyCases(t, CheckBody, map[string]error{
		`{"timestamp":"1","last":"1"}`: nil,
		`[]`:                           nil,
		`{"status":"error","reason":"Invalid nonce","code":"API0004"}`:                                      exchange.ErrBodyError,
		`{"error":"No permission found"}`:                                                                   exchange.ErrBodyError,
		`{"response_code":"400.002","response_explanation":"Request rejected due to exceeded rate limit."}`: exchange.ErrBodyRateLimited,
	})
}

func TestSpec(t *testing.T) {
	s := Spec()
	require.Equal(t, "https://www.bitstamp.net", s.BaseURL)
	require.Equal(t, exchange.RateLimit{Unit: "calls", Limit: 10000, Window: 10 * time.Minute, Kind: "sliding", Burst: 100}, s.RateLimit)
}
