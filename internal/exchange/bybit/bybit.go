// Package bybit is the Bybit (API v5, category spot) connector.
package bybit

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

// ID is CCXT's id for Bybit.
const ID = "bybit"

// BaseURL is Bybit's public REST API.
const BaseURL = "https://api.bybit.com"

// Page sizes from Bybit's v5 docs; defaults are CCXT's.
const (
	defaultCandles = 200
	maxCandles     = 1000
	maxTrades      = 60 // spot recent-trade: 1..60
	defaultDepth   = 50
	maxDepth       = 200 // spot orderbook: 1..200
)

// errRetCode is an error Bybit reported in a 2xx body.
var errRetCode = errors.New("bybit retCode")

// Spec describes Bybit: 600 requests per 5 s per IP, shared by every
// endpoint (https://bybit-exchange.github.io/docs/v5/rate-limit, "HTTP IP
// limit"), counted as a rolling window; exceeding it earns "403, access too
// frequent" and a ban of at least 10 minutes, so the burst stays well below
// the window's budget.
func Spec() exchange.Spec {
	return exchange.Spec{
		ID:      ID,
		BaseURL: BaseURL,
		RateLimit: exchange.RateLimit{
			Unit:   "calls",
			Limit:  600,
			Window: 5 * time.Second,
			Kind:   "sliding",
			Burst:  50,
		},
		CheckBody: CheckBody,
	}
}

// CheckBody reports non-zero retCodes in 2xx bodies: 10006 ("Too many
// visits") and 10018 (IP rate limit) are rate limits, others API errors.
func CheckBody(body []byte) error {
	var env struct {
		RetCode *wire.Text `json:"retCode"`
		RetMsg  string     `json:"retMsg"`
	}
	if wire.Decode(body, &env) != nil || env.RetCode == nil || *env.RetCode == "0" {
		return nil
	}
	code := string(*env.RetCode)
	switch code {
	case "10006", "10018":
		return fmt.Errorf("%w %s: %s: %w", errRetCode, code, env.RetMsg, exchange.ErrBodyRateLimited)
	}
	return fmt.Errorf("%w %s: %s: %w", errRetCode, code, env.RetMsg, exchange.ErrBodyError)
}

// Connector is the Bybit spot connector.
type Connector struct{ exchange.Base }

// New returns a connector sending its requests through r. Bybit's public
// spot API has recent trades only.
func New(r exchange.Requester) *Connector {
	return &Connector{Base: exchange.Base{Name: ID, R: r, Caps: exchange.Capabilities{
		AllTickers: true, HistoricalTrades: false,
		MaxCandles: maxCandles, MaxTrades: maxTrades, MaxDepth: maxDepth,
	}}}
}

var _ exchange.Connector = (*Connector)(nil)

// spot adds the category to a query: every request names it.
func spot(q url.Values) url.Values {
	q.Set("category", "spot")
	return q
}

// Markets lists Bybit's spot instruments and refreshes the symbol index.
func (c *Connector) Markets(ctx context.Context) ([]market.Market, error) {
	return c.LoadMarkets(ctx, "markets", "/v5/market/instruments-info", url.Values{"category": {"spot"}}, 1, parseMarkets)
}

// Tickers fetches /v5/market/tickers?category=spot, with symbol= for one
// symbol. All tickers need the market list to map BTCUSDT back to
// BTC/USDT; it is loaded on first use.
func (c *Connector) Tickers(ctx context.Context, symbols []market.Symbol) ([]market.Ticker, error) {
	ids := make(map[string]market.Symbol, len(symbols))
	for _, s := range symbols {
		id, err := c.MarketID(s, deriveID)
		if err != nil {
			return nil, err
		}
		ids[id] = s
	}
	q := url.Values{}
	ep := "tickers"
	symbolOf := func(id string) (market.Symbol, bool) { s, ok := ids[id]; return s, ok }
	switch len(symbols) {
	case 0:
		if err := c.EnsureMarkets(ctx, c.Markets); err != nil {
			return nil, fmt.Errorf("loading bybit markets for tickers: %w", err)
		}
		symbolOf = func(id string) (market.Symbol, bool) {
			m, ok := c.Index.ByID(id)
			return m.Symbol, ok
		}
	case 1:
		ep = "ticker"
		for id := range ids {
			q.Set("symbol", id)
		}
	}
	return exchange.Fetch(ctx, &c.Base, ep, "/v5/market/tickers", spot(q), 1, func(body []byte) ([]market.Ticker, error) {
		ts, err := parseTickers(body, symbolOf)
		if err == nil && len(symbols) == 1 && len(ts) != 1 {
			err = fmt.Errorf("want the ticker of %s, got %d: %w", symbols[0], len(ts), wire.ErrShape)
		}
		return ts, err
	})
}

// OrderBook fetches /v5/market/orderbook (spot: up to 200 levels).
func (c *Connector) OrderBook(ctx context.Context, symbol market.Symbol, depth int) (market.OrderBook, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return market.OrderBook{}, err
	}
	depth = exchange.Limit(depth, defaultDepth, maxDepth)
	q := url.Values{"symbol": {id}, "limit": {strconv.Itoa(depth)}}
	return exchange.FetchBook(ctx, &c.Base, symbol, id, depth, "orderbook", "/v5/market/orderbook", spot(q), 1,
		func(body []byte) (market.OrderBook, error) { return parseOrderBook(body, depth) })
}

var intervals = exchange.Timeframes[string]{
	market.TF1m: "1", market.TF5m: "5", market.TF15m: "15",
	market.TF1h: "60", market.TF4h: "240", market.TF1d: "D",
}

// OHLCV fetches /v5/market/kline. With since, the window is [start, start
// + limit bars), start rounded up to a bar boundary as CCXT does (Bybit
// would return the bar containing since).
func (c *Connector) OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	iv, id, err := exchange.CandleParams(&c.Base, intervals, tf, symbol, deriveID)
	if err != nil {
		return nil, err
	}
	limit = exchange.Limit(limit, defaultCandles, maxCandles)
	q := url.Values{"symbol": {id}, "interval": {iv}, "limit": {strconv.Itoa(limit)}}
	if !since.IsZero() {
		dur := tf.Duration().Milliseconds()
		start := since.UnixMilli()
		if r := start % dur; r != 0 {
			start += dur - r
		}
		q.Set("start", strconv.FormatInt(start, 10))
		q.Set("end", strconv.FormatInt(start+int64(limit)*dur-1, 10))
	}
	return exchange.FetchCandles(ctx, &c.Base, symbol, tf, since, limit,
		"ohlcv", "/v5/market/kline", spot(q), 1, parseCandles)
}

// Trades fetches /v5/market/recent-trade: Bybit spot keeps only the last
// 60 trades, so since can only filter them (Capabilities.HistoricalTrades
// is false).
func (c *Connector) Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return nil, err
	}
	q := url.Values{"symbol": {id}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(min(limit, maxTrades)))
	}
	return exchange.FetchTrades(ctx, &c.Base, symbol, id, since, limit,
		"trades", "/v5/market/recent-trade", spot(q), 1, parseTrades)
}
