// Package okx is the OKX (API v5) spot connector.
package okx

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
)

// ID is CCXT's id for OKX.
const ID = "okx"

// BaseURL is OKX's public REST API.
const BaseURL = "https://www.okx.com"

// OKX limits each public endpoint separately (requests per 2 s per IP). We
// express them as one budget of 200 weight per 2 s where an endpoint's
// weight is 200 / its own limit, so that no endpoint can exceed its limit
// even when it has the budget to itself (CCXT does the same with costs).
// Limits from https://www.okx.com/docs-v5/en/ (Market Data and Public Data).
const (
	budget = 200
	// per 2 s: tickers 20, ticker 20, instruments 20, books 40, books-full
	// 10, candles 40, history-candles 20, trades 100, history-trades 20.
	weightTickers        = budget / 20
	weightInstruments    = budget / 20
	weightBooks          = budget / 40
	weightBooksFull      = budget / 10
	weightCandles        = budget / 40
	weightHistoryCandles = budget / 20
	weightTrades         = budget / 100
	weightHistoryTrades  = budget / 20
)

// Page sizes from OKX's docs.
const (
	defaultCandles = 100 // CCXT's default; OKX's too
	maxCandles     = 300
	// maxHistoryCandles is history-candles' largest page (OKX's docs: "The
	// maximum is 100").
	maxHistoryCandles = 100
	recentCandles     = 1440 // /market/candles serves only the latest 1440 bars
	maxTrades         = 500
	maxHistoryTrades  = 100
	defaultDepth      = 100 // CCXT's default; OKX's own (1) is a top of book
	maxBooks          = 400
	maxBooksFull      = 5000
)

// errCode is an error OKX reported in a 2xx body.
var errCode = errors.New("okx error code")

// Spec describes OKX for the composition root.
func Spec() exchange.Spec {
	return exchange.Spec{
		ID:      ID,
		BaseURL: BaseURL,
		RateLimit: exchange.RateLimit{
			Unit:   "weight",
			Limit:  budget,
			Window: 2 * time.Second,
			Kind:   "sliding",       // OKX does not say its 2 s windows are aligned
			Burst:  weightBooksFull, // the heaviest single request must fit the bucket
		},
		CheckBody: CheckBody,
	}
}

// CheckBody reports OKX's {"code": "...", "msg": "..."} errors in 2xx
// bodies: 50011 is the rate limit, any other non-zero code an API error.
// Bodies that are not such an object are left to the parsers.
func CheckBody(body []byte) error {
	var env struct {
		Code *wire.Text `json:"code"`
		Msg  string     `json:"msg"`
	}
	if wire.Decode(body, &env) != nil || env.Code == nil || *env.Code == "0" {
		return nil
	}
	code := string(*env.Code)
	switch code {
	case "50011", "50061": // 50061: sub-account rate limit
		return fmt.Errorf("%w %s: %s: %w", errCode, code, env.Msg, exchange.ErrBodyRateLimited)
	}
	return fmt.Errorf("%w %s: %s: %w", errCode, code, env.Msg, exchange.ErrBodyError)
}

// Connector is the OKX connector.
type Connector struct {
	exchange.Base
	now func() time.Time // picks candles vs history-candles
}

// New returns a connector sending its requests through r.
func New(r exchange.Requester) *Connector {
	return &Connector{now: time.Now, Base: exchange.Base{Name: ID, R: r, Caps: exchange.Capabilities{
		AllTickers: true, HistoricalTrades: true,
		MaxCandles: maxCandles, MaxTrades: maxTrades, MaxDepth: maxBooksFull,
		ConsecutiveTradeIDs: true,
	}}}
}

var _ exchange.Connector = (*Connector)(nil)

// Markets lists OKX's spot instruments and refreshes the symbol index.
func (c *Connector) Markets(ctx context.Context) ([]market.Market, error) {
	return c.LoadMarkets(ctx, "markets", "/api/v5/public/instruments", url.Values{"instType": {"SPOT"}}, weightInstruments, parseMarkets)
}

func (c *Connector) symbolOf(id string) (market.Symbol, bool) {
	if m, ok := c.Index.ByID(id); ok {
		return m.Symbol, true
	}
	return deriveSymbol(id)
}

// Tickers fetches one ticker with /market/ticker, several or all with
// /market/tickers?instType=SPOT in one request.
func (c *Connector) Tickers(ctx context.Context, symbols []market.Symbol) ([]market.Ticker, error) {
	ids := make(map[string]market.Symbol, len(symbols))
	var first string
	for _, s := range symbols {
		id, err := c.MarketID(s, deriveID)
		if err != nil {
			return nil, err
		}
		ids[id], first = s, cmp.Or(first, id)
	}
	if len(symbols) == 1 {
		return exchange.Fetch(ctx, &c.Base, "ticker", "/api/v5/market/ticker", url.Values{"instId": {first}}, weightTickers, func(body []byte) ([]market.Ticker, error) {
			ts, err := parseTickers(body, func(id string) (market.Symbol, bool) { s, ok := ids[id]; return s, ok })
			if err == nil && len(ts) != 1 {
				err = fmt.Errorf("want the ticker of %s, got %d tickers: %w", symbols[0], len(ts), wire.ErrShape)
			}
			return ts, err
		})
	}
	symbolOf := c.symbolOf
	if len(symbols) > 0 {
		symbolOf = func(id string) (market.Symbol, bool) { s, ok := ids[id]; return s, ok }
	}
	return exchange.Fetch(ctx, &c.Base, "tickers", "/api/v5/market/tickers", url.Values{"instType": {"SPOT"}}, weightTickers,
		func(body []byte) ([]market.Ticker, error) { return parseTickers(body, symbolOf) })
}

// OrderBook fetches /market/books (up to 400 levels) or /market/books-full.
func (c *Connector) OrderBook(ctx context.Context, symbol market.Symbol, depth int) (market.OrderBook, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return market.OrderBook{}, err
	}
	depth = exchange.Limit(depth, defaultDepth, maxBooksFull)
	ep, path, weight := "orderbook", "/api/v5/market/books", weightBooks
	if depth > maxBooks {
		ep, path, weight = "orderbook_full", "/api/v5/market/books-full", weightBooksFull
	}
	return exchange.FetchBook(ctx, &c.Base, symbol, id, depth,
		ep, path, url.Values{"instId": {id}, "sz": {strconv.Itoa(depth)}}, weight,
		func(body []byte) (market.OrderBook, error) { return parseOrderBook(body, depth) })
}

// bars maps timeframes to OKX's bar; daily bars are asked in UTC ("1Dutc"),
// OKX's plain "1D" opens at UTC+8.
var bars = exchange.Timeframes[string]{
	market.TF1m: "1m", market.TF5m: "5m", market.TF15m: "15m",
	market.TF1h: "1H", market.TF4h: "4H", market.TF1d: "1Dutc",
}

// OHLCV fetches candles, from /market/candles when since is within the
// latest 1440 bars (or zero), else from /market/history-candles, with
// CCXT's window: before = since-1, after = since + limit bars.
func (c *Connector) OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	bar, id, err := exchange.CandleParams(&c.Base, bars, tf, symbol, deriveID)
	if err != nil {
		return nil, err
	}
	limit = exchange.Limit(limit, defaultCandles, maxCandles)
	ep, path, weight := "ohlcv", "/api/v5/market/candles", weightCandles
	if !since.IsZero() {
		dur := tf.Duration()
		if since.Before(c.now().Add(-(recentCandles - 1) * dur)) {
			ep, path, weight = "ohlcv_history", "/api/v5/market/history-candles", weightHistoryCandles
			limit = min(limit, maxHistoryCandles)
		}
	}
	q := url.Values{"instId": {id}, "bar": {bar}, "limit": {strconv.Itoa(limit)}}
	if !since.IsZero() {
		dur := tf.Duration()
		ms := since.UnixMilli()
		q.Set("before", strconv.FormatInt(max(ms-1, 0), 10))
		q.Set("after", strconv.FormatInt(ms+int64(limit)*dur.Milliseconds(), 10))
	}
	return exchange.FetchCandles(ctx, &c.Base, symbol, tf, since, limit,
		ep, path, q, weight, parseCandles)
}

// Trades returns recent trades (/market/trades), or with since the trades
// from since on (/market/history-trades, the last 3 months). OKX pages
// history by trade id, and by time only backwards, so it takes two calls:
// the last trade before since (type=2, after=since), then the ids after it
// (type=1, before=id, after=id+limit+1).
func (c *Connector) Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return nil, err
	}
	var ts []market.Trade
	if since.IsZero() {
		ts, err = c.recentTrades(ctx, id, limit)
	} else {
		ts, err = c.historyTrades(ctx, id, since, limit)
	}
	if err != nil {
		return nil, err
	}
	return exchange.FinishTrades(ts, symbol, "", since, limit), nil
}

func (c *Connector) recentTrades(ctx context.Context, id string, limit int) ([]market.Trade, error) {
	const ep = "trades"
	q := url.Values{"instId": {id}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(min(limit, maxTrades)))
	}
	return exchange.Fetch(ctx, &c.Base, ep, "/api/v5/market/trades", q, weightTrades, parseTrades)
}

func (c *Connector) historyTrades(ctx context.Context, id string, since time.Time, limit int) ([]market.Trade, error) {
	const ep = "trades_history"
	limit = exchange.PageSize(limit, maxHistoryTrades)
	q := url.Values{"instId": {id}, "type": {"2"}, "after": {strconv.FormatInt(since.UnixMilli(), 10)}, "limit": {"1"}}
	body, err := c.Get(ctx, ep, "/api/v5/market/history-trades", q, weightHistoryTrades)
	if err != nil {
		return nil, err
	}
	before, err := parseTrades(body)
	if err != nil {
		return nil, c.DecodeError(ep, body, err)
	}
	if len(before) == 0 {
		return nil, nil // nothing older than since: before OKX's 3-month window or the listing
	}
	last := before[len(before)-1].ID
	anchor, err := strconv.ParseInt(last, 10, 64)
	if err != nil {
		return nil, c.DecodeError(ep, body, fmt.Errorf("trade id %q not numeric: %w", last, wire.ErrShape))
	}
	q = url.Values{
		"instId": {id}, "type": {"1"}, "limit": {strconv.Itoa(limit)},
		"before": {strconv.FormatInt(anchor, 10)}, "after": {strconv.FormatInt(anchor+int64(limit)+1, 10)},
	}
	return exchange.Fetch(ctx, &c.Base, ep, "/api/v5/market/history-trades", q, weightHistoryTrades, parseTrades)
}
