package bitstamp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

// justified lists the fields where we knowingly differ from CCXT.
// Bitstamp sends vwap and quote volume is computed exactly as CCXT does:
// no justified differences.
var justified = map[string]map[string]string{}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// spotSymbol strips CCXT's settle suffix.
func spotSymbol(t testing.TB, s string) market.Symbol {
	t.Helper()
	s, _, _ = strings.Cut(s, ":")
	sym, err := market.ParseSymbol(s)
	require.NoError(t, err)
	return sym
}

func caseSymbols(t testing.TB, c exchangetest.Case) []market.Symbol {
	var out []market.Symbol
	for _, s := range c.Symbols() {
		out = append(out, spotSymbol(t, s))
	}
	return out
}

// run performs the case's call; the result is compared by compare.
func run(ctx context.Context, t *testing.T, conn exchange.Connector, c exchangetest.Case) (exchangetest.Result, string, error) {
	syms := caseSymbols(t, c)
	switch c.Method {
	case "fetchTicker":
		ts, err := conn.Tickers(ctx, syms[:1])
		if err != nil {
			return exchangetest.Result{}, "ticker", err
		}
		r, err := exchangetest.CompareTicker(c.ParsedResponse, ts[0])
		return r, "ticker", err
	case "fetchTickers":
		ts, err := conn.Tickers(ctx, syms)
		if err != nil {
			return exchangetest.Result{}, "tickers", err
		}
		r, err := exchangetest.CompareTickers(c.ParsedResponse, ts)
		return r, "tickers", err
	case "fetchOrderBook":
		b, err := conn.OrderBook(ctx, syms[0], c.Limit())
		if err != nil {
			return exchangetest.Result{}, "orderbook", err
		}
		r, err := exchangetest.CompareOrderBook(c.ParsedResponse, b)
		return r, "orderbook", err
	case "fetchTrades":
		ts, err := conn.Trades(ctx, syms[0], c.Since(), c.Limit())
		if err != nil {
			return exchangetest.Result{}, "trades", err
		}
		r, err := exchangetest.CompareTrades(c.ParsedResponse, ts)
		return r, "trades", err
	case "fetchOHLCV":
		cs, err := conn.OHLCV(ctx, syms[0], c.Timeframe(), c.Since(), c.Limit())
		if err != nil {
			return exchangetest.Result{}, "ohlcv", err
		}
		r, err := exchangetest.CompareOHLCV(c.ParsedResponse, cs)
		return r, "ohlcv", err
	}
	return exchangetest.Result{}, "", exchange.ErrUnsupported
}

var marketMethods = map[string]bool{"fetchTicker": true, "fetchTickers": true, "fetchOrderBook": true, "fetchTrades": true, "fetchOHLCV": true}

// TestParity feeds every recorded response of the CCXT fixture through the
// connector and compares the fields we store with CCXT's parsed output.
func TestParity(t *testing.T) {
	fx := exchangetest.LoadFixture(t, ID)
	var sum exchangetest.Summary
	ran := 0
	for _, c := range fx.Cases {
		if !c.HasResponse() || !marketMethods[c.Method] || !c.Spot() {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			fake := exchangetest.FuncRequester(func(exchange.Request) ([]byte, error) { return c.HTTPResponse, nil })
			r, dataType, err := run(context.Background(), t, New(fake), c)
			require.NoError(t, err)
			bad := sum.Add(ID, dataType, r, justified[dataType])
			require.Empty(t, bad, "fields differing from CCXT")
			if c.HasRequest() {
				require.NoError(t, exchangetest.CompareURL(c.Request.URL, fake.Last().Path, fx.Files.Request.SkipKeys))
			}
			ran++
		})
	}
	require.Equal(t, 3, ran, "recorded market-data cases")
	t.Log("\n" + sum.Markdown())
}

var errNoAnswer = errors.New("no recorded response")

// TestRequestURLs checks the path we build against every spot request CCXT
// recorded.
func TestRequestURLs(t *testing.T) {
	fx := exchangetest.LoadFixture(t, ID)
	checked := 0
	for _, c := range fx.Cases {
		if !c.HasRequest() || !marketMethods[c.Method] || !c.Spot() {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			fake := exchangetest.FuncRequester(func(exchange.Request) ([]byte, error) { return nil, errNoAnswer })
			_, _, err := run(context.Background(), t, New(fake), c)
			require.ErrorIs(t, err, errNoAnswer)
			require.NoError(t, exchangetest.CompareURL(c.Request.URL, fake.Last().Path, fx.Files.Request.SkipKeys))
			checked++
		})
	}
	require.Equal(t, 5, checked)
}

func fixtureBody(t testing.TB, method, description string) []byte {
	t.Helper()
	for _, c := range exchangetest.LoadFixture(t, ID).Cases {
		if c.Method == method && c.Description == description {
			return c.HTTPResponse
		}
	}
	t.Fatalf("no fixture case %s/%s", method, description)
	return nil
}

func newFake(t testing.TB) *exchangetest.Requester {
	return exchangetest.NewRequester(map[string]string{
		"/api/v2/markets/":      string(readTestdata(t, "markets.json")),
		"/api/v2/ticker/":       string(readTestdata(t, "tickers.json")),
		"/api/v2/ticker/btcusd": string(fixtureBody(t, "fetchTicker", "public spot ticker")),
		"/api/v2/order_book/":   string(readTestdata(t, "order_book.json")),
		"/api/v2/ohlc/":         string(fixtureBody(t, "fetchOHLCV", "public spot ohlcv")),
		"/api/v2/transactions/": string(fixtureBody(t, "fetchTrades", "public spot trades")),
	})
}

func TestConformance(t *testing.T) {
	fake := newFake(t)
	exchangetest.Run(t, New(fake), fake, exchangetest.Config{Symbol: "BTC/USD", Depth: 2})
}

func TestMarketsDocExample(t *testing.T) {
	ms, err := parseMarkets(readTestdata(t, "markets.json"))
	require.NoError(t, err)
	require.Equal(t, []market.Market{{
		Exchange: ID, ID: "btcusd", Symbol: "BTC/USD", Base: "BTC", Quote: "USD",
		BaseID: "BTC", QuoteID: "USD", Active: true, Type: "spot",
	}}, ms, "the perpetual is not spot")
}

func TestAllTickersDocExample(t *testing.T) {
	fake := newFake(t)
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
	fake := newFake(t)
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
			fake := exchangetest.FuncRequester(func(exchange.Request) ([]byte, error) { return nil, errNoAnswer })
			require.ErrorIs(t, tc.call(New(fake)), errNoAnswer)
			require.Equal(t, tc.want, fake.Last().Path)
		})
	}
}

func TestCheckBody(t *testing.T) {
	for _, tc := range []struct {
		body string
		want error
	}{
		{`{"timestamp":"1","last":"1"}`, nil},
		{`[]`, nil},
		{`{"status":"error","reason":"Invalid nonce","code":"API0004"}`, exchange.ErrBodyError},
		{`{"error":"No permission found"}`, exchange.ErrBodyError},
		{`{"response_code":"400.002","response_explanation":"Request rejected due to exceeded rate limit."}`, exchange.ErrBodyRateLimited},
	} {
		err := CheckBody([]byte(tc.body))
		if tc.want == nil {
			require.NoError(t, err, tc.body)
			continue
		}
		require.ErrorIs(t, err, tc.want, tc.body)
	}
}

func TestSpec(t *testing.T) {
	s := Spec()
	require.Equal(t, "https://www.bitstamp.net", s.BaseURL)
	require.Equal(t, exchange.RateLimit{Unit: "calls", Limit: 10000, Window: 10 * time.Minute, Burst: 100}, s.RateLimit)
}
