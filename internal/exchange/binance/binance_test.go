package binance

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
		"/api/v3/exchangeInfo":        "exchangeInfo.json",
		"/api/v3/ticker/24hr":         "tickers.json",
		"/api/v3/ticker/24hr?symbol=": "fetchTicker/public spot ticker",
		"/api/v3/depth":               "fetchOrderBook/spot orderbook",
		"/api/v3/klines":              "fetchOHLCV/Spot OHLCV with since and limit",
		"/api/v3/aggTrades":           "fetchTrades/public spot trades",
	},
	Symbol: "BTC/USDT", Depth: 2,
	URLJustified: map[string]string{
		// CCXT adds endTime=since+1h; startTime alone pages forward and
		// does not return an empty page for a quiet hour.
		"Fetch Trades - spot": "no endTime",
		// CCXT routes AAPL/USDC to Binance's tokenized-stock API
		// (/sapi/v1/equity, signed); not a crypto spot market.
		"tokenized stock fetchTicker": "tokenized stock",
	},
	ParityCases: 4,
	URLCases:    10,
	Parsers: exchangetest.FuzzConfig{
		Testdata: []string{"exchangeInfo.json", "tickers.json"}, Seeds: []string{`{"truncated": [`},
		Markets: ParseMarkets,
		Tickers: func(b []byte) ([]market.Ticker, error) {
			return ParseTickers(b, func(string) (market.Symbol, bool) { return "BTC/USDT", true })
		},
		OrderBook: ParseOrderBook, Candles: ParseOHLCV, Trades: ParseTrades,
	},
}

func TestParity(t *testing.T)      { suite.Parity(t) }
func TestRequestURLs(t *testing.T) { suite.RequestURLs(t) }
func TestConformance(t *testing.T) { suite.Conformance(t) }
func FuzzParse(f *testing.F)       { suite.Fuzz(f) }

func TestMarkets(t *testing.T) {
	fake := suite.Fake(t)
	ms, err := New(fake).Markets(context.Background())
	require.NoError(t, err)
	require.Equal(t, []market.Market{
		{Exchange: ID, ID: "ETHBTC", Symbol: "ETH/BTC", Base: "ETH", Quote: "BTC", BaseID: "ETH", QuoteID: "BTC", Active: true, Type: "spot"},
		{Exchange: ID, ID: "BTCUSDT", Symbol: "BTC/USDT", Base: "BTC", Quote: "USDT", BaseID: "BTC", QuoteID: "USDT", Active: true, Type: "spot"},
		{Exchange: ID, ID: "ETHUSDT", Symbol: "ETH/USDT", Base: "ETH", Quote: "USDT", BaseID: "ETH", QuoteID: "USDT", Active: true, Type: "spot"},
		// CCXT keeps Binance's BCC as BCC, not the common BCH.
		{Exchange: ID, ID: "BCCBTC", Symbol: "BCC/BTC", Base: "BCC", Quote: "BTC", BaseID: "BCC", QuoteID: "BTC", Active: false, Type: "spot"},
	}, ms)
	require.Equal(t, []exchange.Request{{Endpoint: "exchangeInfo", Path: "/api/v3/exchangeInfo", Weight: 20}}, fake.Requests())
}

func TestAllTickers(t *testing.T) {
	fake := suite.Fake(t)
	ts, err := New(fake).Tickers(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, ts, 2, "the unlisted id is skipped")
	require.Equal(t, market.Symbol("BTC/USDT"), ts[0].Symbol)
	require.Equal(t, "73369.83000000", ts[0].Bid.String())
	require.Equal(t, int64(1710328245391), ts[0].Time.UnixMilli())
	require.Equal(t, market.Symbol("ETH/USDT"), ts[1].Symbol)
	require.Equal(t, "15.30000000", ts[1].QuoteVolume.String())
	reqs := fake.Requests()
	require.Equal(t, "/api/v3/exchangeInfo", reqs[0].Path, "all tickers need the markets to map ids")
	require.Equal(t, exchange.Request{Endpoint: "ticker24hr", Path: "/api/v3/ticker/24hr", Weight: 80}, reqs[1])
}

func TestRequests(t *testing.T) {
	since := time.UnixMilli(1699381234000)
	tests := []struct {
		name string
		call func(c *Connector) error
		want exchange.Request
	}{
		{"one ticker", func(c *Connector) error {
			_, err := c.Tickers(context.Background(), []market.Symbol{"BTC/USDT"})
			return err
		},
			exchange.Request{Endpoint: "ticker24hr", Path: "/api/v3/ticker/24hr?symbol=BTCUSDT", Weight: 2}},
		{"two tickers", func(c *Connector) error {
			_, err := c.Tickers(context.Background(), []market.Symbol{"ETH/USDT", "BTC/USDT"})
			return err
		}, exchange.Request{Endpoint: "ticker24hr", Path: "/api/v3/ticker/24hr?symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D", Weight: 2}},
		{"deep book", func(c *Connector) error { _, err := c.OrderBook(context.Background(), "BTC/USDT", 1000); return err },
			exchange.Request{Endpoint: "depth", Path: "/api/v3/depth?limit=1000&symbol=BTCUSDT", Weight: 50}},
		{"default book", func(c *Connector) error { _, err := c.OrderBook(context.Background(), "BTC/USDT", 0); return err },
			exchange.Request{Endpoint: "depth", Path: "/api/v3/depth?symbol=BTCUSDT", Weight: 5}},
		{"candles since", func(c *Connector) error {
			_, err := c.OHLCV(context.Background(), "BTC/USDT", market.TF4h, since, 5000)
			return err
		}, exchange.Request{Endpoint: "klines", Path: "/api/v3/klines?interval=4h&limit=1000&startTime=1699381234000&symbol=BTCUSDT", Weight: 2}},
		{"trades since", func(c *Connector) error { _, err := c.Trades(context.Background(), "BTC/USDT", since, 10); return err },
			exchange.Request{Endpoint: "aggTrades", Path: "/api/v3/aggTrades?limit=10&startTime=1699381234000&symbol=BTCUSDT", Weight: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := suite.Fake(t)
			require.NoError(t, tt.call(New(fake)))
			require.Equal(t, tt.want, fake.Last())
		})
	}
}

func TestCheckBody(t *testing.T) {
	exchangetest.CheckBodyCases(t, CheckBody, map[string]error{
		`{"code":-1003,"msg":"Too much request weight used; current limit is 6000 request weight per 1 MINUTE."}`: exchange.ErrBodyRateLimited,
		`{"code":-1121,"msg":"Invalid symbol."}`: exchange.ErrBodyError,
		`{"lastUpdateId":1,"bids":[],"asks":[]}`: nil,
		`[{"a":1}]`:                              nil,
		``:                                       nil,
	})
	hc := exchangetest.HTTPRequester(t, Spec(), `{"code":-1003,"msg":"slow down"}`)
	_, err := New(hc).OrderBook(context.Background(), "BTC/USDT", 5)
	require.ErrorIs(t, err, exchange.ErrBodyRateLimited)
}

func TestUnknownSymbolAfterMarkets(t *testing.T) {
	fake := suite.Fake(t)
	c := New(fake)
	// Before markets load, the id is derived: no markets request.
	_, err := c.OrderBook(context.Background(), "BTC/USDT", 2)
	require.NoError(t, err)
	require.Len(t, fake.Requests(), 1)
	_, err = c.Markets(context.Background())
	require.NoError(t, err)
	_, err = c.OrderBook(context.Background(), "DOGE/USDT", 2)
	require.ErrorIs(t, err, exchange.ErrUnknownSymbol)
}

func TestMarketsLoadedOnceConcurrently(t *testing.T) {
	fake := suite.Fake(t)
	c := New(fake)
	done := make(chan error)
	for range 8 {
		go func() {
			_, err := c.Tickers(context.Background(), nil)
			done <- err
		}()
	}
	for range 8 {
		require.NoError(t, <-done)
	}
	n := 0
	for _, r := range fake.Requests() {
		if r.Endpoint == "exchangeInfo" {
			n++
		}
	}
	require.Equal(t, 1, n, "markets load lazily, once")
}
