// Package binance is the connector for Binance spot (api.binance.com).
package binance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
)

// ID is CCXT's id for Binance.
const ID = "binance"

// Page sizes from Binance's spot REST documentation.
const (
	defaultCandles = 500
	maxCandles     = 1000
	maxTrades      = 1000
	maxDepth       = 5000
)

// Spec describes Binance's public API. Limit: REQUEST_WEIGHT 6000 per minute
// per IP (GET /api/v3/exchangeInfo rateLimits; developers.binance.com spot
// "LIMITS"), counted per calendar minute of Binance's clock; the minute's
// used weight comes back in X-MBX-USED-WEIGHT-1M. Burst must cover the
// heaviest single request (depth 5000 = 250).
func Spec() exchange.Spec {
	return exchange.Spec{
		ID:      ID,
		BaseURL: "https://api.binance.com",
		RateLimit: exchange.RateLimit{
			Unit:       "weight",
			Limit:      6000,
			Window:     time.Minute,
			Kind:       "fixed",
			Burst:      300,
			UsedHeader: "X-MBX-USED-WEIGHT-1M",
		},
		CheckBody: CheckBody,
	}
}

// CheckBody reports errors Binance puts in a body ({"code":-1003,"msg":...}).
// Binance signals errors mostly with HTTP status codes; a 2xx body with a
// negative code is still an error.
func CheckBody(body []byte) error {
	var e struct {
		Code *json.Number `json:"code"`
		Msg  string       `json:"msg"`
	}
	if len(body) == 0 || body[0] != '{' || json.Unmarshal(body, &e) != nil || e.Code == nil {
		return nil
	}
	code, err := e.Code.Int64()
	if err != nil || code >= 0 {
		return nil
	}
	if code == -1003 { // TOO_MANY_REQUESTS
		return fmt.Errorf("%w: binance %d %s", exchange.ErrBodyRateLimited, code, e.Msg)
	}
	return fmt.Errorf("%w: binance %d %s", exchange.ErrBodyError, code, e.Msg)
}

// Connector fetches Binance spot market data.
type Connector struct{ exchange.Base }

// New returns a connector that sends its requests through r.
func New(r exchange.Requester) *Connector {
	return &Connector{Base: exchange.Base{Name: ID, R: r, Caps: exchange.Capabilities{
		AllTickers: true, HistoricalTrades: true, MaxCandles: maxCandles, MaxTrades: maxTrades, MaxDepth: maxDepth,
		ConsecutiveTradeIDs: true,
	}}}
}

// Markets implements exchange.Connector and refreshes the symbol index.
func (c *Connector) Markets(ctx context.Context) ([]market.Market, error) {
	return c.LoadMarkets(ctx, "exchangeInfo", "/api/v3/exchangeInfo", nil, 20, ParseMarkets)
}

// tickerWeight is /api/v3/ticker/24hr's weight by number of symbols.
func tickerWeight(n int) int {
	switch {
	case n == 1:
		return 2
	case n == 0 || n > 100:
		return 80
	case n <= 20:
		return 2
	}
	return 40
}

// Tickers implements exchange.Connector: one request for any number of symbols.
func (c *Connector) Tickers(ctx context.Context, symbols []market.Symbol) ([]market.Ticker, error) {
	q := url.Values{}
	ids := map[string]market.Symbol{}
	if len(symbols) == 0 {
		if err := c.EnsureMarkets(ctx, c.Markets); err != nil {
			return nil, err
		}
	}
	for _, s := range symbols {
		id, err := c.MarketID(s, deriveID)
		if err != nil {
			return nil, err
		}
		ids[id] = s
	}
	switch len(symbols) {
	case 0:
	case 1:
		for id := range ids {
			q.Set("symbol", id)
		}
	default:
		list := make([]string, 0, len(ids))
		for id := range ids {
			list = append(list, id)
		}
		slices.Sort(list)
		b, _ := json.Marshal(list)
		q.Set("symbols", string(b))
	}
	resolve := func(id string) (market.Symbol, bool) {
		if s, ok := ids[id]; ok {
			return s, true
		}
		if m, ok := c.Index.ByID(id); ok && len(ids) == 0 {
			return m.Symbol, true
		}
		return "", false
	}
	return exchange.Fetch(ctx, &c.Base, "ticker24hr", "/api/v3/ticker/24hr", q, tickerWeight(len(symbols)),
		func(body []byte) ([]market.Ticker, error) { return ParseTickers(body, resolve) })
}

// depthWeight is /api/v3/depth's weight by limit (default 100).
func depthWeight(limit int) int {
	switch {
	case limit <= 100:
		return 5
	case limit <= 500:
		return 25
	case limit <= 1000:
		return 50
	}
	return 250
}

// OrderBook implements exchange.Connector.
func (c *Connector) OrderBook(ctx context.Context, symbol market.Symbol, depth int) (market.OrderBook, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return market.OrderBook{}, err
	}
	depth = min(max(depth, 0), maxDepth)
	q := url.Values{"symbol": {id}}
	if depth > 0 {
		q.Set("limit", strconv.Itoa(depth))
	}
	return exchange.FetchBook(ctx, &c.Base, symbol, id, depth,
		"depth", "/api/v3/depth", q, depthWeight(depth), ParseOrderBook)
}

var intervals = exchange.Timeframes[string]{
	market.TF1m: "1m", market.TF5m: "5m", market.TF15m: "15m",
	market.TF1h: "1h", market.TF4h: "4h", market.TF1d: "1d",
}

// OHLCV implements exchange.Connector.
func (c *Connector) OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	interval, id, err := exchange.CandleParams(&c.Base, intervals, tf, symbol, deriveID)
	if err != nil {
		return nil, err
	}
	limit = exchange.Limit(limit, defaultCandles, maxCandles)
	q := url.Values{"symbol": {id}, "interval": {interval}, "limit": {strconv.Itoa(limit)}}
	if !since.IsZero() {
		q.Set("startTime", strconv.FormatInt(since.UnixMilli(), 10))
	}
	return exchange.FetchCandles(ctx, &c.Base, symbol, tf, since, limit,
		"klines", "/api/v3/klines", q, 2, ParseOHLCV)
}

// Trades implements exchange.Connector with aggregate trades: they carry a
// time filter, unlike /api/v3/historicalTrades (id only, weight 25).
func (c *Connector) Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return nil, err
	}
	q := url.Values{"symbol": {id}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(min(limit, maxTrades)))
	}
	if !since.IsZero() {
		// startTime alone pages forward from since; CCXT adds
		// endTime=since+1h, which returns nothing for a quiet hour.
		q.Set("startTime", strconv.FormatInt(since.UnixMilli(), 10))
	}
	return exchange.FetchTrades(ctx, &c.Base, symbol, id, since, limit,
		"aggTrades", "/api/v3/aggTrades", q, 4, ParseTrades)
}
