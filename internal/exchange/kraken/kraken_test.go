package kraken

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
		"/0/public/AssetPairs":  "assetpairs.json",
		"/0/public/Ticker":      "tickers.json",
		"/0/public/Ticker?pair": "fetchTicker/public spot ticker",
		"/0/public/Depth":       "depth.json",
		"/0/public/OHLC":        "fetchOHLCV/Spot ohlcv with since in the request and limit filter on ccxt side",
		"/0/public/Trades":      "fetchTrades/spot trade",
	},
	Symbol: "BTC/USDT", Depth: 3,
	// Kraken's ids are mapped from its asset pairs, which every request needs.
	SharedRoutes: []string{"/0/public/AssetPairs"},
	ParityCases:  3,
	URLCases:     7,
	Parsers: exchangetest.FuzzConfig{
		Testdata: []string{"assetpairs.json", "tickers.json", "depth.json"},
		Markets:  ParseMarkets,
		Tickers: func(b []byte) ([]market.Ticker, error) {
			return ParseTickers(b, func(string) (market.Market, bool) { return market.Market{ID: "X", Symbol: "BTC/USD"}, true })
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
	got := map[market.Symbol]market.Market{}
	for _, m := range ms {
		got[m.Symbol] = m
	}
	require.Len(t, ms, 6, "the dark-pool pair is left out")
	require.Equal(t, market.Market{Exchange: ID, ID: "XXBTZUSD", Symbol: "BTC/USD", Base: "BTC", Quote: "USD", BaseID: "XXBT", QuoteID: "ZUSD", Active: true, Type: "spot"}, got["BTC/USD"])
	require.Equal(t, "XBTUSDT", got["BTC/USDT"].ID)
	require.Equal(t, "XETHXXBT", got["ETH/BTC"].ID)
	require.Equal(t, "XDGUSD", got["DOGE/USD"].ID)
	require.Equal(t, "ZEUSZUSD", got["ZEUS/USD"].ID, "ZEUS is not a Z-prefixed id")
	require.False(t, got["ZEUS/USD"].Active)
}

func TestTickers(t *testing.T) {
	fake := suite.Fake(t)
	c := New(fake)
	ts, err := c.Tickers(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, ts, 2, "unknown pairs are skipped")
	require.Equal(t, market.Symbol("BTC/USDT"), ts[0].Symbol)
	require.Equal(t, market.Symbol("BTC/USD"), ts[1].Symbol)
	require.Equal(t, "30303.20000", ts[1].Last.String())
	require.Equal(t, exchange.Request{Endpoint: "Ticker", Path: "/0/public/Ticker", Weight: 1}, fake.Last())

	_, err = c.Tickers(context.Background(), []market.Symbol{"BTC/USDT", "ETH/USDT"})
	require.NoError(t, err)
	require.Equal(t, "/0/public/Ticker?pair=XBTUSDT%2CETHUSDT", fake.Last().Path)
}

func TestOrderBook(t *testing.T) {
	fake := suite.Fake(t)
	b, err := New(fake).OrderBook(context.Background(), "BTC/USDT", 2)
	require.NoError(t, err)
	require.Equal(t, "/0/public/Depth?count=2&pair=XBTUSDT", fake.Last().Path)
	require.Len(t, b.Bids, 2, "truncated to the depth asked")
	require.Equal(t, "73380.60000", b.Bids[0].Price.String())
	require.Equal(t, "0.800", b.Bids[0].Amount.String())
	require.Equal(t, "73380.70000", b.Asks[0].Price.String())
	require.True(t, b.Time.IsZero())
}

func TestTradesSince(t *testing.T) {
	fake := suite.Fake(t)
	since := time.UnixMilli(1710327959000).UTC()
	ts, err := New(fake).Trades(context.Background(), "BTC/USDT", since, 0)
	require.NoError(t, err)
	require.Equal(t, "/0/public/Trades?pair=XBTUSDT&since=1710327959", fake.Last().Path)
	require.Len(t, ts, 1)
	require.Equal(t, time.Unix(1710327959, 173346800).UTC(), ts[0].Time, "fractional seconds kept exactly")
	_, err = New(fake).Trades(context.Background(), "BTC/USDT", since.Add(time.Second), 0)
	require.NoError(t, err)
}

func TestCheckBody(t *testing.T) {
	exchangetest.CheckBodyCases(t, CheckBody, map[string]error{
		`{"error":["EAPI:Rate limit exceeded"]}`:       exchange.ErrBodyRateLimited,
		`{"error":["EGeneral:Too many requests"]}`:     exchange.ErrBodyRateLimited,
		`{"error":["EQuery:Unknown asset pair"]}`:      exchange.ErrBodyError,
		`{"error":["WGeneral:Something"],"result":{}}`: nil,
		`{"error":[],"result":{}}`:                     nil,
		`not json`:                                     nil,
	})
	hc := exchangetest.HTTPRequester(t, Spec(), `{"error":["EAPI:Rate limit exceeded"]}`)
	_, err := New(hc).Markets(context.Background())
	require.ErrorIs(t, err, exchange.ErrBodyRateLimited)
}

func TestFractionalSeconds(t *testing.T) {
	for in, want := range map[string]time.Time{
		"1710327959.1733468":    time.Unix(1710327959, 173346800),
		"1710327959":            time.Unix(1710327959, 0),
		"1710327959.1234567891": time.Unix(1710327959, 123456789),
	} {
		got, err := fractionalSeconds(in)
		require.NoError(t, err, in)
		require.True(t, want.Equal(got), in)
	}
	for _, bad := range []string{"", "-1.5", "1.5e3", "abc", "1.x"} {
		_, err := fractionalSeconds(bad)
		require.Error(t, err, bad)
	}
}
