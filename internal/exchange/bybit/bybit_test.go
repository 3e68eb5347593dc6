package bybit

import (
	"context"
	"strings"
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
		"/v5/market/instruments-info": "instruments-spot.json",
		"/v5/market/tickers":          "tickers-spot.json",
		"/v5/market/orderbook":        "fetchOrderBook/Spot orderbook",
		"/v5/market/kline":            "fetchOHLCV/swap ohlcv with since and limit",
		"/v5/market/recent-trade":     "fetchTrades/swap public trade",
	},
	Symbol: "BTC/USDT", Depth: 2,
	// Fields where we knowingly differ from CCXT.
	Justified: map[string]map[string]string{
		"ticker": {
			"vwap":      "CCXT derives vwap = quoteVolume/baseVolume, a non-terminating quotient; Bybit sends no vwap and we store only exchange values (both volumes are stored)",
			"timestamp": "ticker rows carry no time and CCXT leaves it null; we take the envelope's server time, when the snapshot was served",
		},
	},
	// Bybit v5 answers swaps in the spot shape: its swap cases are compared too.
	NonSpot: true,
	// The recordings are linear swap (BTC/USDT:USDT) except one spot order
	// book; the options ticker case is not applicable (option rows, ids like
	// BTC-30MAY25-70000-C-USDT, are not spot).
	SkipParity:  func(c exchangetest.Case) bool { return strings.Contains(c.Name(), "option") },
	ParityCases: 5,
	URLCases:    3,
	Parsers: exchangetest.FuzzConfig{
		Testdata: []string{"instruments-spot.json", "tickers-spot.json"},
		Seeds:    []string{`{"retCode":0,"result":{"list":[["1","2"]]}}`},
		Markets:  parseMarkets,
		Tickers: func(b []byte) ([]market.Ticker, error) {
			return parseTickers(b, func(id string) (market.Symbol, bool) { return market.Symbol(id + "/X"), id != "" })
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
	ms, err := parseMarkets([]byte(exchangetest.ReadTestdata(t, "instruments-spot.json")))
	require.NoError(t, err)
	require.Equal(t, []market.Market{{
		Exchange: ID, ID: "BTCUSDT", Symbol: "BTC/USDT", Base: "BTC", Quote: "USDT",
		BaseID: "BTC", QuoteID: "USDT", Active: true, Type: "spot",
	}}, ms)
}

// TestAllTickersDocExample loads the markets on first use to map ids back.
func TestAllTickersDocExample(t *testing.T) {
	fake := suite.Fake(t)
	ts, err := New(fake).Tickers(context.Background(), nil)
	require.NoError(t, err)
	reqs := fake.Requests()
	require.Len(t, reqs, 2)
	require.Equal(t, "/v5/market/instruments-info?category=spot", reqs[0].Path)
	require.Equal(t, "/v5/market/tickers?category=spot", reqs[1].Path)
	require.Len(t, ts, 1)
	tk := ts[0]
	require.Equal(t, market.Symbol("BTC/USDT"), tk.Symbol)
	require.Equal(t, "BTCUSDT", tk.ExchangeSymbol)
	require.Equal(t, int64(1673859087947), tk.Time.UnixMilli())
	require.Equal(t, "20517.96", tk.Bid.String())
	require.Equal(t, "1.862172", tk.AskVolume.String())
	require.Equal(t, "20533.13", tk.Last.String())
	require.Equal(t, "20533.13", tk.Close.String())
	require.Equal(t, "20393.48", tk.Open.String())
	require.Equal(t, "11801.27771", tk.BaseVolume.String())
	require.Equal(t, "243765620.65899866", tk.QuoteVolume.String())

	t.Run("one symbol asks for it", func(t *testing.T) {
		fake := suite.Fake(t)
		_, err := New(fake).Tickers(context.Background(), []market.Symbol{"BTC/USDT"})
		require.NoError(t, err)
		require.Equal(t, "/v5/market/tickers?category=spot&symbol=BTCUSDT", fake.Last().Path)
	})
}

func TestOHLCVRequests(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tf    market.Timeframe
		since time.Time
		limit int
		want  string
	}{
		{"default", market.TF1d, time.Time{}, 0, "/v5/market/kline?category=spot&interval=D&limit=200&symbol=BTCUSDT"},
		{"since on a boundary", market.TF4h, time.UnixMilli(1704067200000), 2,
			"/v5/market/kline?category=spot&end=1704095999999&interval=240&limit=2&start=1704067200000&symbol=BTCUSDT"},
		{"since mid-bar rounds up", market.TF1h, time.UnixMilli(1706628191000), 3,
			"/v5/market/kline?category=spot&end=1706641199999&interval=60&limit=3&start=1706630400000&symbol=BTCUSDT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := exchangetest.FuncRequester(func(exchange.Request) ([]byte, error) { return nil, exchangetest.ErrNoAnswer })
			_, err := New(fake).OHLCV(context.Background(), "BTC/USDT", tc.tf, tc.since, tc.limit)
			require.ErrorIs(t, err, exchangetest.ErrNoAnswer)
			require.Equal(t, tc.want, fake.Last().Path)
		})
	}
}

func TestTradesSinceFilters(t *testing.T) {
	fake := suite.Fake(t)
	ts, err := New(fake).Trades(context.Background(), "BTC/USDT", time.UnixMilli(1707905515969), 10)
	require.NoError(t, err)
	require.Empty(t, ts, "the only recorded trade is older than since")
	require.Equal(t, "/v5/market/recent-trade?category=spot&limit=10&symbol=BTCUSDT", fake.Last().Path)
}

func TestCheckBody(t *testing.T) {
	exchangetest.CheckBodyCases(t, CheckBody, map[string]error{
		`{"retCode":0,"retMsg":"OK","result":{}}`:                          nil,
		`{"retCode":"0","retMsg":"OK","result":{}}`:                        nil,
		`{"retCode":10006,"retMsg":"Too many visits!","result":{}}`:        exchange.ErrBodyRateLimited,
		`{"retCode":10018,"retMsg":"Out of frequency limit.","result":{}}`: exchange.ErrBodyRateLimited,
		`{"retCode":10001,"retMsg":"params error","result":{}}`:            exchange.ErrBodyError,
		`[]`:                nil,
		`{"retCode":10001}`: exchange.ErrBodyError,
	})
}

func TestSpec(t *testing.T) {
	s := Spec()
	require.Equal(t, "https://api.bybit.com", s.BaseURL)
	require.Equal(t, exchange.RateLimit{Unit: "calls", Limit: 600, Window: 5 * time.Second, Kind: "sliding", Burst: 50}, s.RateLimit)
	require.NotNil(t, s.CheckBody)
}
