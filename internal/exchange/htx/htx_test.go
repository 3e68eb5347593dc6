package htx

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
		"/v1/common/symbols":      "symbols.json",
		"/market/tickers":         "tickers.json",
		"/market/detail/merged":   "fetchTicker/public spot ticker",
		"/market/depth":           "depth.json",
		"/market/history/candles": "fetchOHLCV/public spot ohlcv",
		"/market/history/trade":   "fetchTrades/public spot trades",
	},
	Symbol: "BTC/USDT", Depth: 5,
	Justified: map[string]map[string]string{
		// The case asks for 1 trade of a response whose twelve trades share
		// one millisecond. CCXT keeps HTX's newest-first order within the
		// millisecond, so its last trade is trade-id ...915, the oldest; we
		// order by trade id and return the newest, ...926. The row differs
		// as a whole: another trade, with its own price and amount.
		"trades": {
			"id": "other trade of the same ms", "price": "other trade of the same ms",
			"amount": "other trade of the same ms", "cost": "other trade of the same ms",
		},
	},
	URLJustified: map[string]string{
		// Tickers with one symbol uses the merged ticker (bid/ask sizes,
		// small body) where CCXT's fetchTickers fetches all tickers.
		"spot": "merged ticker for one symbol",
		// CCXT's own request-only option, not a spot parameter.
		"+1m +since +limit +until (without useHistoricalEndpointForSpot)": "params",
	},
	ParityCases: 3,
	URLCases:    7,
	Parsers: exchangetest.FuzzConfig{
		Testdata: []string{"symbols.json", "tickers.json", "depth.json"},
		Markets:  ParseMarkets, Ticker: ParseTicker,
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
	require.Len(t, ms, 4)
	require.Equal(t, market.Market{Exchange: ID, ID: "btcusdt", Symbol: "BTC/USDT", Base: "BTC", Quote: "USDT", BaseID: "btc", QuoteID: "usdt", Active: true, Type: "spot"}, ms[0])
	require.Equal(t, market.Market{Exchange: ID, ID: "bccbtc", Symbol: "BCH/BTC", Base: "BCH", Quote: "BTC", BaseID: "bcc", QuoteID: "btc", Active: false, Type: "spot"}, ms[3])
}

func TestAllTickers(t *testing.T) {
	fake := suite.Fake(t)
	c := New(fake)
	_, err := c.Markets(context.Background())
	require.NoError(t, err)
	ts, err := c.Tickers(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, ts, 2, "unlisted ids are skipped")
	btc := ts[0]
	require.Equal(t, market.Symbol("BTC/USDT"), btc.Symbol)
	require.Equal(t, "165753938.49546936", btc.QuoteVolume.String(), "exponent expanded, digits kept")
	require.Equal(t, "68640.0", btc.Low.String())
	require.Equal(t, "0.595189", btc.BidVolume.String())
	require.Equal(t, int64(1630982370526), btc.Time.UnixMilli())
	require.Equal(t, exchange.Request{Endpoint: "tickers", Path: "/market/tickers", Weight: 1}, fake.Last())

	ts, err = c.Tickers(context.Background(), []market.Symbol{"BTC/USDT", "ETH/USDT"})
	require.NoError(t, err)
	require.Len(t, ts, 2)
	require.Equal(t, market.Symbol("ETH/USDT"), ts[1].Symbol)
}

func TestOrderBook(t *testing.T) {
	fake := suite.Fake(t)
	b, err := New(fake).OrderBook(context.Background(), "BTC/USDT", 3)
	require.NoError(t, err)
	require.Equal(t, "/market/depth?depth=5&symbol=btcusdt&type=step0", fake.Last().Path)
	require.Len(t, b.Bids, 3)
	require.Equal(t, "52690.69", b.Bids[0].Price.String())
	require.Equal(t, int64(136998221245), b.Nonce)
	require.Equal(t, int64(1630983445017), b.Time.UnixMilli())
	_, err = New(fake).OrderBook(context.Background(), "BTC/USDT", 0)
	require.NoError(t, err)
	require.Equal(t, "/market/depth?symbol=btcusdt&type=step0", fake.Last().Path)
}

func TestTradesOrder(t *testing.T) {
	fake := suite.Fake(t)
	ts, err := New(fake).Trades(context.Background(), "BTC/USDT", time.Time{}, 0)
	require.NoError(t, err)
	require.Equal(t, "/market/history/trade?size=1000&symbol=btcusdt", fake.Last().Path)
	require.Len(t, ts, 12)
	require.Equal(t, "102882518915", ts[0].ID)
	require.Equal(t, "102882518926", ts[11].ID)
	require.Equal(t, market.SideSell, ts[0].Side)
}

func TestCheckBody(t *testing.T) {
	exchangetest.CheckBodyCases(t, CheckBody, map[string]error{
		`{"status":"error","err-code":"too-many-request","err-msg":"Too many requests"}`: exchange.ErrBodyRateLimited,
		`{"status":"error","err-code":"invalid-parameter","err-msg":"invalid symbol"}`:   exchange.ErrBodyError,
		`{"status":"ok","data":[]}`: nil,
		`[]`:                        nil,
	})
}
