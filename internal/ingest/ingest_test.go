package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/ingest"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/quality"
	"github.com/mdingest/mdingest/internal/tables"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var now = time.Date(2024, 3, 1, 12, 0, 30, 0, time.UTC)

func d(s string) market.Decimal { return market.MustDecimal(s) }

// fetcher is a fake connector.
type fetcher struct {
	mu         sync.Mutex
	markets    []market.Market
	tickers    []market.Ticker
	books      map[market.Symbol]market.OrderBook
	candles    func(s market.Symbol, tf market.Timeframe) []market.Candle
	trades     map[market.Symbol][]market.Trade
	err        map[string]error // by method name (and symbol: "OrderBook BTC/USDT")
	calls      []string
	tickerSyms []market.Symbol
	limits     []int
}

func (f *fetcher) called(c string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	return f.err[c]
}

func (f *fetcher) ID() string { return "fakex" }
func (f *fetcher) Capabilities() exchange.Capabilities {
	return exchange.Capabilities{AllTickers: true, MaxCandles: 1000, MaxTrades: 500, MaxDepth: 100}
}
func (f *fetcher) Markets(context.Context) ([]market.Market, error) {
	return f.markets, f.called("Markets")
}
func (f *fetcher) Tickers(_ context.Context, syms []market.Symbol) ([]market.Ticker, error) {
	f.tickerSyms = syms
	if err := f.called("Tickers"); err != nil {
		return nil, err
	}
	return f.tickers, nil
}
func (f *fetcher) OrderBook(_ context.Context, s market.Symbol, _ int) (market.OrderBook, error) {
	if err := f.called("OrderBook " + string(s)); err != nil {
		return market.OrderBook{}, err
	}
	return f.books[s], nil
}
func (f *fetcher) OHLCV(_ context.Context, s market.Symbol, tf market.Timeframe, _ time.Time, limit int) ([]market.Candle, error) {
	f.limits = append(f.limits, limit)
	if err := f.called("OHLCV " + string(s) + " " + string(tf)); err != nil {
		return nil, err
	}
	return f.candles(s, tf), nil
}
func (f *fetcher) Trades(_ context.Context, s market.Symbol, _ time.Time, _ int) ([]market.Trade, error) {
	if err := f.called("Trades " + string(s)); err != nil {
		return nil, err
	}
	return f.trades[s], nil
}

// checker is a fake quality checker rejecting rows of BAD/USDT.
type checker struct{}

const bad = market.Symbol("BAD/USDT")

func fakeCheck[T any](rows []T, sym func(T) market.Symbol, dt market.DataType) quality.Result[T] {
	var res quality.Result[T]
	seen := map[market.Symbol]int{}
	for _, r := range rows {
		s := sym(r)
		if _, ok := seen[s]; !ok {
			seen[s] = len(res.Reports)
			res.Reports = append(res.Reports, quality.Report{Exchange: "fakex", Symbol: s, DataType: dt, Passed: true, Score: 1})
		}
		rep := &res.Reports[seen[s]]
		rep.Rows++
		if s == bad {
			res.Rejected = append(res.Rejected, quality.Rejected[T]{Row: r, Check: "invalid_value", Reason: "invalid_value: test"})
			rep.Rejected++
			rep.Passed = false
			continue
		}
		rep.Accepted++
		res.Accepted = append(res.Accepted, r)
	}
	return res
}

func (checker) CheckTickers(b []market.Ticker, _ time.Time, _ time.Duration) quality.Result[market.Ticker] {
	return fakeCheck(b, func(t market.Ticker) market.Symbol { return t.Symbol }, market.TypeTicker)
}
func (checker) CheckOrderBooks(b []market.OrderBook, _ time.Time, _ time.Duration) quality.Result[market.OrderBook] {
	return fakeCheck(b, func(t market.OrderBook) market.Symbol { return t.Symbol }, market.TypeOrderBook)
}
func (checker) CheckCandles(b []market.Candle, _ time.Time, _ time.Duration) quality.Result[market.Candle] {
	return fakeCheck(b, func(t market.Candle) market.Symbol { return t.Symbol }, market.TypeOHLCV)
}
func (checker) CheckTrades(b []market.Trade, _ time.Time, _ time.Duration) quality.Result[market.Trade] {
	return fakeCheck(b, func(t market.Trade) market.Symbol { return t.Symbol }, market.TypeTrades)
}

type cache struct {
	tickers []market.Ticker
	books   []market.OrderBook
	candles []market.Candle
	err     error
}

func (c *cache) SetTickers(_ context.Context, ts []market.Ticker) error {
	c.tickers = append(c.tickers, ts...)
	return c.err
}
func (c *cache) SetOrderBooks(_ context.Context, bs []market.OrderBook) error {
	c.books = append(c.books, bs...)
	return c.err
}
func (c *cache) SetCandles(_ context.Context, ks []market.Candle) error {
	c.candles = append(c.candles, ks...)
	return c.err
}

// sink records puts.
type sink struct {
	started  []time.Time
	markets  []market.Market
	tickers  []market.Ticker
	books    []market.OrderBook
	candles  []market.Candle
	trades   []market.Trade
	reports  []ops.QualityReport
	rejected []ops.RejectedRow
	err      error
}

func (s *sink) Put(_ context.Context, t time.Time, r tables.Rows) error {
	if collect(&s.reports, tables.QualityReports, r) || collect(&s.rejected, tables.RejectedRows, r) {
		return nil
	}
	s.started = append(s.started, t)
	_ = collect(&s.markets, tables.Symbols, r) || collect(&s.tickers, tables.Tickers, r) ||
		collect(&s.books, tables.OrderBooks, r) || collect(&s.candles, tables.Candles, r) || collect(&s.trades, tables.Trades, r)
	return s.err
}

// collect appends r's rows to dst when they are t's.
func collect[T any](dst *[]T, t *tables.Table[T], r tables.Rows) bool {
	rows, ok := t.Of(r)
	*dst = append(*dst, rows...)
	return ok
}

type env struct {
	f   *fetcher
	c   *cache
	s   *sink
	m   *ingest.Metrics
	reg *prometheus.Registry
	p   *ingest.Pipeline
}

func newEnv(t *testing.T, f *fetcher, mod func(*ingest.Options)) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := ingest.NewMetrics(reg)
	require.NoError(t, err)
	e := &env{f: f, c: &cache{}, s: &sink{}, m: m, reg: reg}
	opts := ingest.Options{
		Fetcher: f, Checker: checker{}, Cache: e.c, Sink: e.s, Rejects: e.s, Metrics: m,
		Symbols: []market.Symbol{"BTC/USDT", bad},
		Now:     func() time.Time { return now },
	}
	if mod != nil {
		mod(&opts)
	}
	e.p, err = ingest.New(opts)
	require.NoError(t, err)
	return e
}

func ticker(s market.Symbol) market.Ticker {
	return market.Ticker{Exchange: "fakex", Symbol: s, Time: now, Bid: d("100"), Ask: d("101"), Last: d("100.5")}
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for i := 0; i < len(labels); i += 2 {
				if got[labels[i]] != labels[i+1] {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestTickers(t *testing.T) {
	e := newEnv(t, &fetcher{tickers: []market.Ticker{ticker("BTC/USDT"), ticker(bad)}}, nil)
	rows, err := e.p.Tickers(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(1), rows)
	require.Equal(t, []market.Symbol{"BTC/USDT", bad}, e.f.tickerSyms, "one request for all symbols")

	require.Len(t, e.s.tickers, 1)
	require.Equal(t, market.Symbol("BTC/USDT"), e.s.tickers[0].Symbol)
	require.Equal(t, []time.Time{now}, e.s.started, "the fetch start travels with the batch")
	require.Len(t, e.c.tickers, 1, "accepted rows are cached")

	require.Len(t, e.s.rejected, 1)
	rj := e.s.rejected[0]
	require.Equal(t, ingest.SourceValidation, rj.Source)
	require.Equal(t, string(bad), rj.Symbol)
	require.Equal(t, "ticker", rj.DataType)
	require.Equal(t, "invalid_value: test", rj.Reason)
	var payload map[string]any
	require.NoError(t, json.Unmarshal(rj.Payload, &payload))
	require.Equal(t, string(bad), payload["symbol"])
	require.Contains(t, string(rj.Payload), `"ask":101`, "the row whole, with the exchange's digits")

	require.Len(t, e.s.reports, 2, "one report per symbol, as the checker reports")
	require.Equal(t, "ticker", e.s.reports[0].DataType)
	require.JSONEq(t, `[]`, string(e.s.reports[0].Issues))
	require.False(t, e.s.reports[1].Passed)

	require.Equal(t, 2.0, counter(t, e.reg, "rows_fetched_total", "exchange", "fakex", "type", "ticker"))
	require.Equal(t, 1.0, counter(t, e.reg, "rows_accepted_total", "type", "ticker"))
	require.Equal(t, 1.0, counter(t, e.reg, "rows_rejected_total", "type", "ticker", "source", "validation"))
}

func TestRefreshMarketsKeepsActiveSymbols(t *testing.T) {
	f := &fetcher{markets: []market.Market{
		{ID: "BTCUSDT", Symbol: "BTC/USDT", Base: "BTC", Quote: "USDT", Active: true},
		{ID: "ETHUSDT", Symbol: "ETH/USDT", Base: "ETH", Quote: "USDT", Active: false},
		{ID: "XRPUSDT", Symbol: "XRP/USDT", Base: "XRP", Quote: "USDT", Active: true},
	}, tickers: []market.Ticker{ticker("BTC/USDT")}}
	e := newEnv(t, f, func(o *ingest.Options) { o.Symbols = []market.Symbol{"BTC/USDT", "ETH/USDT", "DOGE/USDT"} })
	require.Equal(t, []market.Symbol{"BTC/USDT", "ETH/USDT", "DOGE/USDT"}, e.p.Symbols(), "configured until markets load")

	rows, err := e.p.RefreshMarkets(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(3), rows)
	require.Len(t, e.s.markets, 3)
	require.Equal(t, "fakex", e.s.markets[0].Exchange)
	require.Equal(t, []market.Symbol{"BTC/USDT"}, e.p.Symbols())
	require.Len(t, e.p.Markets(), 3)

	_, err = e.p.Tickers(context.Background())
	require.NoError(t, err)
	require.Equal(t, []market.Symbol{"BTC/USDT"}, f.tickerSyms)
}

func TestCandlesMarkOpenCandle(t *testing.T) {
	// Fetched at 12:00:30: the 12:00 minute is still open.
	f := &fetcher{candles: func(s market.Symbol, tf market.Timeframe) []market.Candle {
		var out []market.Candle
		for i := -2; i <= 0; i++ {
			ts := now.Truncate(tf.Duration()).Add(time.Duration(i) * tf.Duration())
			out = append(out, market.Candle{Exchange: "fakex", Symbol: s, Timeframe: tf, Time: ts,
				Open: d("1"), High: d("2"), Low: d("0.5"), Close: d("1.5"), Volume: d("10"), Closed: true})
		}
		return out
	}}
	e := newEnv(t, f, func(o *ingest.Options) {
		o.Symbols = []market.Symbol{"BTC/USDT"}
		o.Timeframes = []market.Timeframe{market.TF1m, market.TF1h}
	})
	rows, err := e.p.Candles(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(6), rows)
	require.Equal(t, []string{"OHLCV BTC/USDT 1m", "OHLCV BTC/USDT 1h"}, f.calls)
	require.Equal(t, []int{3, 3}, f.limits)
	require.Len(t, e.s.candles, 6)
	for _, k := range e.s.candles {
		require.Equal(t, k.End().Compare(now) <= 0, k.Closed, "%s %s", k.Timeframe, k.Time)
	}
	require.False(t, e.s.candles[2].Closed)
	require.True(t, e.s.candles[1].Closed)
	require.Len(t, e.c.candles, 6)
}

func TestDecodeErrorBecomesRejectedRow(t *testing.T) {
	raw := []byte(`{"symbol":"BTCUSDT","bidPrice":`)
	f := &fetcher{err: map[string]error{"Tickers": fmtErr(&exchange.DecodeError{
		Exchange: "fakex", Endpoint: "ticker/bookTicker", Payload: raw, Err: errors.New("unexpected end of JSON input")})}}
	e := newEnv(t, f, nil)
	rows, err := e.p.Tickers(context.Background())
	require.Zero(t, rows)
	require.ErrorIs(t, err, ingest.ErrDecode)
	var de *exchange.DecodeError
	require.ErrorAs(t, err, &de)

	require.Len(t, e.s.rejected, 1)
	rj := e.s.rejected[0]
	require.Equal(t, ingest.SourceDecode, rj.Source)
	require.Equal(t, raw, rj.Payload)
	require.Equal(t, "ticker", rj.DataType)
	require.Contains(t, rj.Reason, "ticker/bookTicker")
	require.Equal(t, 1.0, counter(t, e.reg, "decode_errors_total", "type", "ticker"))
	require.Equal(t, 1.0, counter(t, e.reg, "rows_rejected_total", "type", "ticker", "source", "decode"))
	require.Empty(t, e.s.tickers)
}

// fmtErr wraps err as connectors' callers might see it.
func fmtErr(err error) error { return errors.Join(errors.New("binance"), err) }

func TestOrderBooksGoOnPastAFailedSymbol(t *testing.T) {
	book := func(s market.Symbol) market.OrderBook {
		return market.OrderBook{Exchange: "fakex", Symbol: s, Time: now,
			Bids: []market.Level{{Price: d("100"), Amount: d("1")}}, Asks: []market.Level{{Price: d("101"), Amount: d("1")}}}
	}
	f := &fetcher{
		books: map[market.Symbol]market.OrderBook{"BTC/USDT": book("BTC/USDT"), "ETH/USDT": book("ETH/USDT")},
		err:   map[string]error{"OrderBook BTC/USDT": errors.New("503")},
	}
	e := newEnv(t, f, func(o *ingest.Options) {
		o.Symbols = []market.Symbol{"BTC/USDT", "ETH/USDT", "XRP/USDT"}
		o.CriticalSymbols = []market.Symbol{"BTC/USDT", "ETH/USDT"}
	})
	rows, err := e.p.OrderBooks(context.Background())
	require.ErrorContains(t, err, "fetching orderbook BTC/USDT: 503")
	require.Equal(t, int64(1), rows)
	require.Len(t, e.s.books, 1)
	require.Equal(t, market.Symbol("ETH/USDT"), e.s.books[0].Symbol)
	require.Len(t, e.c.books, 1)
	require.Equal(t, []string{"OrderBook BTC/USDT", "OrderBook ETH/USDT"}, f.calls, "only critical symbols")
	require.Equal(t, 1.0, counter(t, e.reg, "fetch_errors_total", "type", "orderbook"))
}

func TestCacheFailureDoesNotFailTheJob(t *testing.T) {
	e := newEnv(t, &fetcher{tickers: []market.Ticker{ticker("BTC/USDT")}}, nil)
	e.c.err = errors.New("redis down")
	rows, err := e.p.Tickers(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(1), rows)
	require.Len(t, e.s.tickers, 1)
}

func TestSinkFailureFailsTheJob(t *testing.T) {
	e := newEnv(t, &fetcher{tickers: []market.Ticker{ticker("BTC/USDT")}}, nil)
	e.s.err = context.DeadlineExceeded
	_, err := e.p.Tickers(context.Background())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Zero(t, counter(t, e.reg, "rows_accepted_total", "type", "ticker"))
}

// With the real checker, a crossed book is rejected with its reason and
// candle reports keep their timeframe.
func TestWithQualityChecker(t *testing.T) {
	qc, err := quality.NewChecker(quality.DefaultConfig())
	require.NoError(t, err)
	crossed := ticker("ETH/USDT")
	crossed.Bid, crossed.Ask = d("102"), d("101")
	f := &fetcher{tickers: []market.Ticker{ticker("BTC/USDT"), crossed}, candles: func(s market.Symbol, tf market.Timeframe) []market.Candle {
		ts := now.Truncate(time.Minute).Add(-time.Minute)
		return []market.Candle{{Exchange: "fakex", Symbol: s, Timeframe: tf, Time: ts, Open: d("1"), High: d("2"), Low: d("0.5"), Close: d("1.5"), Volume: d("3")}}
	}}
	e := newEnv(t, f, func(o *ingest.Options) {
		o.Checker = qc
		o.Symbols = []market.Symbol{"BTC/USDT", "ETH/USDT"}
		o.MaxAge = quality.DefaultConfig().MaxAge
	})
	rows, err := e.p.Tickers(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(1), rows)
	require.Len(t, e.s.rejected, 1)
	require.Contains(t, e.s.rejected[0].Reason, quality.CheckCrossedBook)

	_, err = e.p.Candles(context.Background())
	require.NoError(t, err)
	last := e.s.reports[len(e.s.reports)-1]
	require.Equal(t, "ohlcv:1m", last.DataType)
	require.Equal(t, 1, last.RowsTotal)
}

func TestNewRejectsMissingParts(t *testing.T) {
	_, err := ingest.New(ingest.Options{Fetcher: &fetcher{}})
	require.ErrorIs(t, err, ingest.ErrInvalid)
	_, err = ingest.NewMetrics(nil)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	_, err = ingest.NewMetrics(reg)
	require.NoError(t, err)
	_, err = ingest.NewMetrics(reg)
	require.Error(t, err, "registering twice on one registry")
}

// notes records notifications.
type notes struct {
	mu   sync.Mutex
	got  []string // kind exchange symbol
	vals []any
}

func (n *notes) Notify(_ context.Context, kind, exchange, symbol string, v any) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, kind+" "+exchange+" "+symbol)
	n.vals = append(n.vals, v)
	return nil
}

// TestNotifiesQualityAndErrors checks downstream consumers hear of every
// batch's quality report and every failed fetch, as the original design's
// quality and error callbacks did.
func TestNotifiesQualityAndErrors(t *testing.T) {
	n := &notes{}
	f := &fetcher{tickers: []market.Ticker{ticker("BTC/USDT"), ticker(bad)},
		err: map[string]error{"OrderBook BTC/USDT": errors.New("503")}}
	e := newEnv(t, f, func(o *ingest.Options) { o.Notify = n })
	_, err := e.p.Tickers(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"quality fakex BTC/USDT", "quality fakex " + string(bad)}, n.got)
	rep, ok := n.vals[1].(quality.Report)
	require.True(t, ok, "the report itself: %T", n.vals[1])
	require.False(t, rep.Passed)

	_, err = e.p.OrderBooks(context.Background())
	require.Error(t, err)
	require.Equal(t, "error fakex BTC/USDT", n.got[2])
	b, err := json.Marshal(n.vals[2])
	require.NoError(t, err)
	require.JSONEq(t, `{"data_type":"orderbook","error":"503","decode":false}`, string(b))
}
