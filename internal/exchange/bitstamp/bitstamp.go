// Package bitstamp is the Bitstamp (API v2) spot connector.
package bitstamp

import (
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

// ID is CCXT's id for Bitstamp.
const ID = "bitstamp"

// BaseURL is Bitstamp's public REST API.
const BaseURL = "https://www.bitstamp.net"

const (
	maxCandles = 1000
	// transactions?time=day returns a whole day; limit only trims it.
	maxTrades = 1 << 20
	// The order book is returned whole; depth only trims it.
	maxDepth = 1 << 20
)

// rateLimitCode is Bitstamp's response_code for a rejected, over-limit request.
const rateLimitCode = "400.002"

// errStatus is an error Bitstamp reported in a 2xx body.
var errStatus = errors.New("bitstamp error")

// Spec describes Bitstamp: 400 requests per second, with a default
// threshold of 10,000 requests per 10 minutes
// (https://www.bitstamp.net/api/, "Request limits"). The 10-minute budget
// is the binding one, counted as a rolling window since Bitstamp does not
// say it is aligned; the burst stays far below the per-second ceiling.
func Spec() exchange.Spec {
	return exchange.Spec{
		ID:      ID,
		BaseURL: BaseURL,
		RateLimit: exchange.RateLimit{
			Unit:   "calls",
			Limit:  10000,
			Window: 10 * time.Minute,
			Kind:   "sliding",
			Burst:  100,
		},
		CheckBody: CheckBody,
	}
}

// CheckBody reports Bitstamp's error objects in 2xx bodies: {"status":
// "error", "reason": ..., "code": ...}, {"error": ...}, or a response_code;
// response_code 400.002 is the rate limit.
func CheckBody(body []byte) error {
	var r struct {
		Status       wire.Text `json:"status"`
		Error        any       `json:"error"`
		Reason       any       `json:"reason"`
		Code         wire.Text `json:"code"`
		ResponseCode wire.Text `json:"response_code"`
		Explanation  string    `json:"response_explanation"`
	}
	if wire.Decode(body, &r) != nil {
		return nil
	}
	switch {
	case r.ResponseCode == rateLimitCode || r.Code == rateLimitCode:
		return fmt.Errorf("%w %s: %s: %w", errStatus, rateLimitCode, r.Explanation, exchange.ErrBodyRateLimited)
	case r.Status == "error" || r.Error != nil || r.ResponseCode != "":
		return fmt.Errorf("%w %s%s: %v%v: %w", errStatus, r.Code, r.ResponseCode, r.Reason, r.Error, exchange.ErrBodyError)
	}
	return nil
}

// Connector is the Bitstamp connector.
type Connector struct{ exchange.Base }

// New returns a connector sending its requests through r. Bitstamp's
// public API has trades of the last day only.
func New(r exchange.Requester) *Connector {
	return &Connector{Base: exchange.Base{Name: ID, R: r, Caps: exchange.Capabilities{
		AllTickers: true, HistoricalTrades: false,
		MaxCandles: maxCandles, MaxTrades: maxTrades, MaxDepth: maxDepth,
	}}}
}

var _ exchange.Connector = (*Connector)(nil)

// Markets lists Bitstamp's spot markets and refreshes the symbol index.
func (c *Connector) Markets(ctx context.Context) ([]market.Market, error) {
	return c.LoadMarkets(ctx, "markets", "/api/v2/markets/", nil, 1, parseMarkets)
}

// Tickers fetches /api/v2/ticker/{pair}/ for one symbol, /api/v2/ticker/
// (all pairs) otherwise.
func (c *Connector) Tickers(ctx context.Context, symbols []market.Symbol) ([]market.Ticker, error) {
	ids := make(map[market.Symbol]string, len(symbols))
	for _, s := range symbols {
		id, err := c.MarketID(s, deriveID)
		if err != nil {
			return nil, err
		}
		ids[s] = id
	}
	if len(symbols) == 1 {
		id := ids[symbols[0]]
		t, err := exchange.Fetch(ctx, &c.Base, "ticker", "/api/v2/ticker/"+url.PathEscape(id)+"/", nil, 1, parseTicker)
		if err != nil {
			return nil, err
		}
		t.Symbol, t.ExchangeSymbol = symbols[0], id
		return []market.Ticker{t}, nil
	}
	keep := func(s market.Symbol) bool { _, ok := ids[s]; return ok || len(symbols) == 0 }
	ts, err := exchange.Fetch(ctx, &c.Base, "tickers", "/api/v2/ticker/", nil, 1,
		func(body []byte) ([]market.Ticker, error) { return parseTickers(body, keep) })
	if err != nil {
		return nil, err
	}
	for i := range ts {
		if id, ok := ids[ts[i].Symbol]; ok {
			ts[i].ExchangeSymbol = id
		} else if m, ok := c.Index.BySymbol(ts[i].Symbol); ok {
			ts[i].ExchangeSymbol = m.ID
		} else {
			ts[i].ExchangeSymbol = deriveID(ts[i].Symbol)
		}
	}
	return ts, nil
}

// OrderBook fetches /api/v2/order_book/{pair}/ (the whole book) and trims
// it to depth.
func (c *Connector) OrderBook(ctx context.Context, symbol market.Symbol, depth int) (market.OrderBook, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return market.OrderBook{}, err
	}
	return exchange.FetchBook(ctx, &c.Base, symbol, id, depth,
		"orderbook", "/api/v2/order_book/"+url.PathEscape(id)+"/", nil, 1,
		func(body []byte) (market.OrderBook, error) { return parseOrderBook(body, depth) })
}

var steps = exchange.Timeframes[int]{
	market.TF1m: 60, market.TF5m: 300, market.TF15m: 900,
	market.TF1h: 3600, market.TF4h: 14400, market.TF1d: 86400,
}

// OHLCV fetches /api/v2/ohlc/{pair}/. With since, the window is CCXT's:
// start = since (s), end = start + limit bars - 1 s.
func (c *Connector) OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	step, id, err := exchange.CandleParams(&c.Base, steps, tf, symbol, deriveID)
	if err != nil {
		return nil, err
	}
	limit = exchange.PageSize(limit, maxCandles)
	q := url.Values{"step": {strconv.Itoa(step)}, "limit": {strconv.Itoa(limit)}}
	if !since.IsZero() {
		start := exchange.SinceSeconds(since)
		q.Set("start", strconv.FormatInt(start, 10))
		q.Set("end", strconv.FormatInt(start+int64(step*limit)-1, 10))
	}
	return exchange.FetchCandles(ctx, &c.Base, symbol, tf, since, limit,
		"ohlcv", "/api/v2/ohlc/"+url.PathEscape(id)+"/", q, 1, parseCandles)
}

// Trades fetches /api/v2/transactions/{pair}/: the last hour (CCXT's
// default), or with since the last day, filtered from since. limit keeps
// the most recent trades.
func (c *Connector) Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error) {
	window := "hour"
	if !since.IsZero() {
		window = "day"
	}
	id, ts, err := c.transactions(ctx, symbol, window)
	if err != nil {
		return nil, err
	}
	return exchange.FinishTrades(ts, symbol, id, since, limit), nil
}

// transactions fetches one of Bitstamp's transaction windows.
func (c *Connector) transactions(ctx context.Context, symbol market.Symbol, window string) (string, []market.Trade, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return "", nil, err
	}
	ts, err := exchange.Fetch(ctx, &c.Base, "trades", "/api/v2/transactions/"+url.PathEscape(id)+"/", url.Values{"time": {window}}, 1, parseTrades)
	return id, ts, err
}
