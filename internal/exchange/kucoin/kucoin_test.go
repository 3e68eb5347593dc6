package kucoin

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
		"/api/v2/symbols":                     "symbols.json",
		"/api/v1/market/allTickers":           "allTickers.json",
		"/api/v1/market/stats":                "fetchTicker/fetch ticker",
		"/api/v1/market/orderbook/level2_20":  "fetchOrderBook/fetch orderbook",
		"/api/v1/market/orderbook/level2_100": "fetchOrderBook/fetch orderbook",
		"/api/v1/market/candles":              "fetchOHLCV/spot ohlcv with since and limit",
		"/api/v1/market/histories":            "fetchTrades/fetchTrades",
	},
	Symbol: "BTC/USDT", Depth: 2,
	Justified: map[string]map[string]string{
		// KuCoin's market/histories has no trade id, so CCXT's id is null;
		// we store the trade's sequence, unique per symbol, as trade_id
		// (part of the trades table's key).
		"trades": {"id": "sequence as id"},
	},
	URLJustified: map[string]string{
		// CCXT asks for the full book (/api/v3/market/orderbook/level2),
		// which needs an API key; we use the public 100-level book.
		"spot orderbook": "public level2_100",
	},
	ParityCases: 4,
	URLCases:    10,
	Parsers: exchangetest.FuzzConfig{
		Testdata: []string{"symbols.json", "allTickers.json"},
		Markets:  ParseMarkets, Ticker: ParseTicker,
		Tickers: func(b []byte) ([]market.Ticker, error) {
			return ParseAllTickers(b, func(string) (market.Symbol, bool) { return "BTC/USDT", true })
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
	require.Len(t, ms, 4)
	require.Equal(t, market.Market{Exchange: ID, ID: "XLM-USDT", Symbol: "XLM/USDT", Base: "XLM", Quote: "USDT", BaseID: "XLM", QuoteID: "USDT", Active: true, Type: "spot"}, ms[0])
	require.Equal(t, market.Market{Exchange: ID, ID: "WAX-USDT", Symbol: "WAXP/USDT", Base: "WAXP", Quote: "USDT", BaseID: "WAX", QuoteID: "USDT", Active: false, Type: "spot"}, ms[3])
	require.Equal(t, exchange.Request{Endpoint: "symbols", Path: "/api/v2/symbols", Weight: 4}, fake.Last())
}

func TestAllTickers(t *testing.T) {
	fake := suite.Fake(t)
	c := New(fake)
	ts, err := c.Tickers(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, ts, 3, "without markets every id is split BASE-QUOTE")
	btc := ts[0]
	require.Equal(t, market.Symbol("BTC/USDT"), btc.Symbol)
	require.Equal(t, int64(1602832092060), btc.Time.UnixMilli())
	require.Equal(t, "0.1", btc.BidVolume.String())
	require.Equal(t, "11392.5", btc.Open.String(), "open = last - changePrice")
	require.Equal(t, "11383.376307075732751399", btc.VWAP.String(), "vwap = volValue / vol, 18 places truncated, zeros trimmed")
	require.Equal(t, exchange.Request{Endpoint: "allTickers", Path: "/api/v1/market/allTickers", Weight: 15}, fake.Last())

	_, err = c.Markets(context.Background())
	require.NoError(t, err)
	ts, err = c.Tickers(context.Background(), []market.Symbol{"BTC/USDT", "ETH/USDT"})
	require.NoError(t, err)
	require.Len(t, ts, 2)
	ts, err = c.Tickers(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, ts, 2, "with markets loaded, unlisted ids are skipped")
}

func TestRequests(t *testing.T) {
	since := time.Unix(1706628191, 0)
	tests := []struct {
		name string
		call func(c *Connector) error
		want exchange.Request
	}{
		{"one ticker", func(c *Connector) error {
			_, err := c.Tickers(context.Background(), []market.Symbol{"BTC/USDT"})
			return err
		},
			exchange.Request{Endpoint: "stats", Path: "/api/v1/market/stats?symbol=BTC-USDT", Weight: 15}},
		{"deep book", func(c *Connector) error { _, err := c.OrderBook(context.Background(), "BTC/USDT", 50); return err },
			exchange.Request{Endpoint: "level2_100", Path: "/api/v1/market/orderbook/level2_100?symbol=BTC-USDT", Weight: 4}},
		{"candles since", func(c *Connector) error {
			_, err := c.OHLCV(context.Background(), "BTC/USDT", market.TF1h, since, 3)
			return err
		}, exchange.Request{Endpoint: "candles", Path: "/api/v1/market/candles?endAt=1706638991&startAt=1706628191&symbol=BTC-USDT&type=1hour", Weight: 3}},
		{"latest candles", func(c *Connector) error {
			_, err := c.OHLCV(context.Background(), "BTC/USDT", market.TF1d, time.Time{}, 0)
			return err
		}, exchange.Request{Endpoint: "candles", Path: "/api/v1/market/candles?symbol=BTC-USDT&type=1day", Weight: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := suite.Fake(t)
			require.NoError(t, tt.call(New(fake)))
			require.Equal(t, tt.want, fake.Last())
		})
	}
}

func TestTradesSinceFilters(t *testing.T) {
	fake := suite.Fake(t)
	c := New(fake)
	ts, err := c.Trades(context.Background(), "BTC/USDT", time.Unix(0, 1709897616745000000), 0)
	require.NoError(t, err)
	require.Len(t, ts, 1)
	ts, err = c.Trades(context.Background(), "BTC/USDT", time.Unix(0, 1709897616745000001), 0)
	require.NoError(t, err)
	require.Empty(t, ts, "recent trades older than since are dropped")
	require.False(t, c.Capabilities().HistoricalTrades)
}

func TestCheckBody(t *testing.T) {
	exchangetest.CheckBodyCases(t, CheckBody, map[string]error{
		`{"code":"429000","msg":"Too Many Requests"}`: exchange.ErrBodyRateLimited,
		`{"code":429000,"msg":"Too Many Requests"}`:   exchange.ErrBodyRateLimited,
		`{"code":"400100","msg":"symbol not exists"}`: exchange.ErrBodyError,
		`{"code":"200000","data":{}}`:                 nil,
		`[]`:                                          nil,
	})
}
