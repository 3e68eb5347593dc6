// Package htx is the connector for HTX (formerly Huobi) spot (api.huobi.pro).
package htx

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
)

// ID is CCXT's id for HTX.
const ID = "htx"

// Page sizes from HTX's spot REST documentation.
const (
	maxCandles     = 2000
	defaultTrades  = 1000 // CCXT's default size
	maxTrades      = 2000
	maxDepth       = 150 // step0 returns 150 levels
	maxCandleLimit = maxCandles
)

// Spec describes HTX's public API. HTX's publications disagree: its spot
// reference (huobiapi.github.io/docs/spot/v1/en/, "Rate Limiting Rule") is
// summarised as 800 requests per second per IP for market data and 120 per
// 3 s for the other public endpoints, while the rule it long published, and
// CCXT still follows (rateLimit 100 ms), is 10 per second per IP without an
// API key. We keep to the lowest, 10 per second, as a rolling window (HTX
// does not say its windows are aligned): within every published figure.
// HTX reports the remaining quota in X-HB-RateLimit-Requests-Remain, not
// the used one.
func Spec() exchange.Spec {
	return exchange.Spec{
		ID:        ID,
		BaseURL:   "https://api.huobi.pro",
		RateLimit: exchange.RateLimit{Unit: "calls", Limit: 10, Window: time.Second, Kind: "sliding", Burst: 10},
		CheckBody: CheckBody,
	}
}

// CheckBody reports {"status":"error","err-code":...} bodies; err-codes
// naming too many requests are rate limiting.
func CheckBody(body []byte) error {
	var e struct {
		Status  string    `json:"status"`
		ErrCode wire.Text `json:"err-code"`
		ErrMsg  string    `json:"err-msg"`
	}
	if len(body) == 0 || body[0] != '{' || json.Unmarshal(body, &e) != nil || e.Status != "error" {
		return nil
	}
	code := strings.ToLower(string(e.ErrCode))
	if strings.Contains(code, "too-many") || code == "429" {
		return fmt.Errorf("%w: htx %s %s", exchange.ErrBodyRateLimited, e.ErrCode, e.ErrMsg)
	}
	return fmt.Errorf("%w: htx %s %s", exchange.ErrBodyError, e.ErrCode, e.ErrMsg)
}

// Connector fetches HTX spot market data.
type Connector struct{ exchange.Base }

// New returns a connector that sends its requests through r. HTX's public
// trades are the latest 2000 only.
func New(r exchange.Requester) *Connector {
	return &Connector{Base: exchange.Base{Name: ID, R: r, Caps: exchange.Capabilities{
		AllTickers: true, HistoricalTrades: false, MaxCandles: maxCandles, MaxTrades: maxTrades, MaxDepth: maxDepth,
	}}}
}

// Markets implements exchange.Connector and refreshes the symbol index.
func (c *Connector) Markets(ctx context.Context) ([]market.Market, error) {
	return c.LoadMarkets(ctx, "symbols", "/v1/common/symbols", nil, 1, ParseMarkets)
}

// Tickers implements exchange.Connector: market/tickers returns every
// symbol; one symbol uses market/detail/merged, which adds bid/ask sizes.
func (c *Connector) Tickers(ctx context.Context, symbols []market.Symbol) ([]market.Ticker, error) {
	if len(symbols) == 1 {
		id, err := c.MarketID(symbols[0], deriveID)
		if err != nil {
			return nil, err
		}
		t, err := exchange.Fetch(ctx, &c.Base, "detail/merged", "/market/detail/merged", url.Values{"symbol": {id}}, 1, ParseTicker)
		if err != nil {
			return nil, err
		}
		t.Symbol, t.ExchangeSymbol = symbols[0], id
		return []market.Ticker{t}, nil
	}
	want := map[string]market.Symbol{}
	for _, s := range symbols {
		id, err := c.MarketID(s, deriveID)
		if err != nil {
			return nil, err
		}
		want[id] = s
	}
	resolve := func(id string) (market.Symbol, bool) {
		if len(want) > 0 {
			s, ok := want[id]
			return s, ok
		}
		if m, ok := c.Index.ByID(id); ok {
			return m.Symbol, true
		}
		return "", false
	}
	return exchange.Fetch(ctx, &c.Base, "tickers", "/market/tickers", nil, 1,
		func(body []byte) ([]market.Ticker, error) { return ParseTickers(body, resolve) })
}

// OrderBook implements exchange.Connector. HTX's depth parameter takes 5,
// 10 or 20; otherwise step0 returns 150 levels and we cut.
func (c *Connector) OrderBook(ctx context.Context, symbol market.Symbol, depth int) (market.OrderBook, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return market.OrderBook{}, err
	}
	depth = min(max(depth, 0), maxDepth)
	q := url.Values{"symbol": {id}, "type": {"step0"}}
	for _, d := range []int{5, 10, 20} {
		if depth > 0 && depth <= d {
			q.Set("depth", strconv.Itoa(d))
			break
		}
	}
	return exchange.FetchBook(ctx, &c.Base, symbol, id, depth,
		"depth", "/market/depth", q, 1, ParseOrderBook)
}

var periods = exchange.Timeframes[string]{
	market.TF1m: "1min", market.TF5m: "5min", market.TF15m: "15min",
	market.TF1h: "60min", market.TF4h: "4hour", market.TF1d: "1day",
}

// OHLCV implements exchange.Connector with /market/history/candles, which
// (unlike the documented /market/history/kline) takes from/to in seconds;
// CCXT uses it for spot by default.
func (c *Connector) OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	period, id, err := exchange.CandleParams(&c.Base, periods, tf, symbol, deriveID)
	if err != nil {
		return nil, err
	}
	limit = min(max(limit, 0), maxCandleLimit)
	q := url.Values{"period": {period}, "symbol": {id}}
	if !since.IsZero() {
		q.Set("from", strconv.FormatInt(exchange.SinceSeconds(since), 10))
	}
	if limit > 0 {
		q.Set("size", strconv.Itoa(limit))
	}
	return exchange.FetchCandles(ctx, &c.Base, symbol, tf, since, limit,
		"history/candles", "/market/history/candles", q, 1, ParseOHLCV)
}

// Trades implements exchange.Connector with the latest trades; a since
// filters them (HTX has no public trade history).
func (c *Connector) Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return nil, err
	}
	size := defaultTrades
	if limit > 0 {
		size = min(limit, maxTrades)
	}
	q := url.Values{"symbol": {id}, "size": {strconv.Itoa(size)}}
	return exchange.FetchTrades(ctx, &c.Base, symbol, id, since, limit,
		"history/trade", "/market/history/trade", q, 1, ParseTrades)
}
