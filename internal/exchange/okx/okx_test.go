package okx

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
		"/api/v5/public/instruments": "instruments.json",
		"/api/v5/market/ticker":      "fetchTicker/public spot ticker",
		"/api/v5/market/books":       "fetchOrderBook/spot orderbook",
		"/api/v5/market/candles":     "fetchOHLCV/spot ohlcv with limit and since",
		"/api/v5/market/trades":      "fetchTrades/public spot trades",
	},
	Symbol: "BTC/USDT", Depth: 2,
	ParityNew: func(c exchangetest.Case, r exchange.Requester) exchange.Connector {
		conn := New(r)
		conn.now = func() time.Time { return c.Since().Add(24 * time.Hour) }
		return conn
	},
	// Fields where we knowingly differ from CCXT.
	Justified: map[string]map[string]string{
		"ticker": {
			"vwap": "CCXT derives vwap = quoteVolume/baseVolume, a non-terminating quotient; OKX sends no vwap and we store only exchange values (both volumes are stored)",
		},
	},
	// OKX answers swaps in the spot shape: its swap cases are compared too.
	NonSpot: true,
	CallURL: func(ctx context.Context, t *testing.T, conn exchange.Connector, c exchangetest.Case) error {
		if c.Method == "fetchTickers" && len(c.Symbols()) == 1 {
			// One symbol goes to /market/ticker (CCXT's fetchTicker URL);
			// ask for two to exercise the all-tickers URL CCXT recorded.
			_, err := conn.Tickers(ctx, []market.Symbol{c.Symbol(t), "ETH/USDT"})
			return err
		}
		_, _, err := exchangetest.CallCase(ctx, t, conn, c)
		return err
	},
	// CCXT asks history-candles for 300 bars, of which OKX serves 100; we
	// ask for the 100 it serves (TestOHLCVRequests checks that URL).
	SkipURL: func(c exchangetest.Case) bool {
		return c.Name() == "fetchOHLCV/historical endpoint instead of recent"
	},
	ParityCases: 5, // recorded spot/swap market-data cases
	URLCases:    5, // spot requests, request-only cases included, less the one above
	Parsers: exchangetest.FuzzConfig{
		Testdata: []string{"instruments.json", "tickers.json", "history-trades.json"},
		Seeds:    []string{`{"code":"0","data":[["1","2"]]}`},
		Markets:  parseMarkets, Tickers: func(b []byte) ([]market.Ticker, error) { return parseTickers(b, deriveSymbol) },
		OrderBook: func(b []byte) (market.OrderBook, error) { return parseOrderBook(b, 0) },
		Candles:   parseCandles, Trades: parseTrades, BookTime: true,
	},
}

func TestParity(t *testing.T)      { suite.Parity(t) }
func TestRequestURLs(t *testing.T) { suite.RequestURLs(t) }
func TestConformance(t *testing.T) { suite.Conformance(t) }
func FuzzParse(f *testing.F)       { suite.Fuzz(f) }

// TestMarketsDocExample checks the instruments example of OKX's docs.
func TestMarketsDocExample(t *testing.T) {
	ms, err := parseMarkets([]byte(exchangetest.ReadTestdata(t, "instruments.json")))
	require.NoError(t, err)
	require.Equal(t, []market.Market{{
		Exchange: ID, ID: "BTC-USDT", Symbol: "BTC/USDT", Base: "BTC", Quote: "USDT",
		BaseID: "BTC", QuoteID: "USDT", Active: true, Type: "spot",
	}}, ms)
}

func TestTickers(t *testing.T) {
	t.Run("docs example rows are SWAP and skipped", func(t *testing.T) {
		ts, err := parseTickers([]byte(exchangetest.ReadTestdata(t, "tickers.json")), deriveSymbol)
		require.NoError(t, err)
		require.Empty(t, ts)
	})
	t.Run("all spot tickers map ids through the index", func(t *testing.T) {
		fake := suite.Fake(t)
		fake.Handle("/api/v5/market/tickers", []byte(strings.Replace(
			exchangetest.LoadFixture(t, ID).Response(t, "fetchTicker", "public spot ticker"), `"data": [`,
			`"data": [{"instType":"SPOT","instId":"AE-USDT","last":"0.1","ts":"1710328243709"},`, 1)))
		conn := New(fake)
		ts, err := conn.Tickers(context.Background(), nil)
		require.NoError(t, err)
		require.Len(t, ts, 2)
		require.Equal(t, market.Symbol("AET/USDT"), ts[0].Symbol, "CCXT renames OKX's AE")
		require.Equal(t, "AE-USDT", ts[0].ExchangeSymbol)
		require.Equal(t, "/api/v5/market/tickers?instType=SPOT", fake.Last().Path)
	})
	t.Run("zero prices are absent, as in CCXT", func(t *testing.T) {
		body := `{"code":"0","msg":"","data":[{"instType":"SPOT","instId":"BTC-USDT","last":"1","bidPx":"0","askPx":"","high24h":"0","ts":"1710328243709"}]}`
		ts, err := parseTickers([]byte(body), deriveSymbol)
		require.NoError(t, err)
		require.False(t, ts[0].Bid.Valid())
		require.False(t, ts[0].Ask.Valid())
		require.False(t, ts[0].High.Valid())
		require.Equal(t, "1", ts[0].Close.String())
	})
}

func TestSymbols(t *testing.T) {
	for _, tc := range []struct {
		sym market.Symbol
		id  string
	}{{"BTC/USDT", "BTC-USDT"}, {"AET/USDT", "AE-USDT"}, {"ETH/BTC", "ETH-BTC"}} {
		require.Equal(t, tc.id, deriveID(tc.sym))
		got, ok := deriveSymbol(tc.id)
		require.True(t, ok)
		require.Equal(t, tc.sym, got)
	}
	for _, id := range []string{"BTC-USDT-SWAP", "BTCUSDT", "-USDT", "BTC-"} {
		_, ok := deriveSymbol(id)
		require.False(t, ok, id)
	}
}

func TestOHLCVRequests(t *testing.T) {
	now := time.Date(2024, 3, 13, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		tf    market.Timeframe
		since time.Time
		limit int
		want  string
	}{
		{"recent", market.TF1m, time.Time{}, 0, "/api/v5/market/candles?bar=1m&instId=BTC-USDT&limit=100"},
		{"daily bars in UTC", market.TF1d, time.Time{}, 500, "/api/v5/market/candles?bar=1Dutc&instId=BTC-USDT&limit=300"},
		{"since within 1440 bars", market.TF1h, now.Add(-10 * time.Hour), 5,
			"/api/v5/market/candles?after=1710313200000&bar=1H&before=1710295199999&instId=BTC-USDT&limit=5"},
		{"since older", market.TF4h, now.Add(-1440 * 4 * time.Hour), 2,
			"/api/v5/market/history-candles?after=1689624000000&bar=4H&before=1689595199999&instId=BTC-USDT&limit=2"},
		// history-candles serves at most 100 bars: asking 300 would get a
		// page of 100 ending long before "after", read as a hole.
		{"history pages of 100", market.TF1m, now.Add(-2000 * time.Minute), 300,
			"/api/v5/market/history-candles?after=1710217200000&bar=1m&before=1710211199999&instId=BTC-USDT&limit=100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := exchangetest.FuncRequester(func(exchange.Request) ([]byte, error) { return nil, exchangetest.ErrNoAnswer })
			conn := New(fake)
			conn.now = func() time.Time { return now }
			_, err := conn.OHLCV(context.Background(), "BTC/USDT", tc.tf, tc.since, tc.limit)
			require.ErrorIs(t, err, exchangetest.ErrNoAnswer)
			require.Equal(t, tc.want, fake.Last().Path)
		})
	}
}

func TestHistoricalTrades(t *testing.T) {
	since := time.UnixMilli(1654161641000).UTC()
	anchor := `{"code":"0","msg":"","data":[{"instId":"BTC-USDT","side":"buy","sz":"1","px":"1","tradeId":"242720718","ts":"1654161640000"}]}`
	fake := exchangetest.FuncRequester(func(r exchange.Request) ([]byte, error) {
		if strings.Contains(r.Path, "type=2") {
			return []byte(anchor), nil
		}
		return []byte(exchangetest.ReadTestdata(t, "history-trades.json")), nil
	})
	ts, err := New(fake).Trades(context.Background(), "BTC/USDT", since, 2)
	require.NoError(t, err)
	reqs := fake.Requests()
	require.Len(t, reqs, 2)
	require.Equal(t, "/api/v5/market/history-trades?after=1654161641000&instId=BTC-USDT&limit=1&type=2", reqs[0].Path)
	require.Equal(t, "/api/v5/market/history-trades?after=242720721&before=242720718&instId=BTC-USDT&limit=2&type=1", reqs[1].Path)
	require.Len(t, ts, 2)
	require.Equal(t, "242720719", ts[0].ID, "oldest first")
	require.Equal(t, "242720720", ts[1].ID)
	require.Equal(t, market.Symbol("BTC/USDT"), ts[0].Symbol)
	require.Equal(t, "29964.1", ts[0].Price.String())
	require.Equal(t, int64(1654161641568), ts[0].Time.UnixMilli())

	t.Run("nothing before since", func(t *testing.T) {
		fake := exchangetest.NewRequester(map[string]string{"/": `{"code":"0","msg":"","data":[]}`})
		ts, err := New(fake).Trades(context.Background(), "BTC/USDT", since, 0)
		require.NoError(t, err)
		require.Empty(t, ts)
		require.Len(t, fake.Requests(), 1)
	})
}

func TestCheckBody(t *testing.T) {
	exchangetest.CheckBodyCases(t, CheckBody, map[string]error{
		`{"code":"0","msg":"","data":[]}`:                                 nil,
		`{"code":"50011","msg":"Too Many Requests","data":[]}`:            exchange.ErrBodyRateLimited,
		`{"code":"51001","msg":"Instrument ID does not exist","data":[]}`: exchange.ErrBodyError,
		`[1,2]`:                      nil,
		`not json`:                   nil,
		`{"code":"51001","msg":"x"}`: exchange.ErrBodyError,
	})
}

func TestSpec(t *testing.T) {
	s := Spec()
	require.Equal(t, ID, s.ID)
	require.Equal(t, "https://www.okx.com", s.BaseURL)
	require.Equal(t, 2*time.Second, s.RateLimit.Window)
	require.Equal(t, weightBooksFull, s.RateLimit.Burst, "the heaviest request must fit the burst")
	// Each endpoint's own limit per 2 s: budget / weight.
	for _, tc := range []struct{ weight, limit int }{
		{weightTickers, 20}, {weightBooks, 40}, {weightCandles, 40}, {weightHistoryCandles, 20},
		{weightTrades, 100}, {weightHistoryTrades, 20}, {weightInstruments, 20}, {weightBooksFull, 10},
	} {
		require.Equal(t, tc.limit, int(s.RateLimit.Limit)/tc.weight)
	}
}

func TestDecodeErrorKeepsPayload(t *testing.T) {
	body := []byte(`{"code":"0","msg":"","data":[["1706637600000","x","1","1","1","1"]]}`)
	fake := exchangetest.NewRequester(map[string]string{"/": string(body)})
	_, err := New(fake).OHLCV(context.Background(), "BTC/USDT", market.TF1h, time.Time{}, 0)
	var de *exchange.DecodeError
	require.ErrorAs(t, err, &de)
	require.Equal(t, body, de.Payload)
	require.Equal(t, "ohlcv", de.Endpoint)
	require.ErrorIs(t, err, market.ErrInvalidDecimal)
}
