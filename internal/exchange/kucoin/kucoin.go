// Package kucoin is the connector for KuCoin spot (api.kucoin.com).
package kucoin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
)

// ID is CCXT's id for KuCoin.
const ID = "kucoin"

// Page sizes from KuCoin's REST documentation.
const (
	maxCandles = 1500
	maxTrades  = 100 // market/histories returns the last 100 trades
	maxDepth   = 100 // level2_100 is the deepest public book
)

// Spec describes KuCoin's public API: the "Public" resource pool of 2000
// weight per 30 s per IP (KuCoin docs, "Rate Limit", VIP0-12 alike),
// counted as a rolling window since KuCoin does not say where its 30 s
// begin; endpoint weights are in the requests. KuCoin reports the remaining quota
// (gw-ratelimit-remaining), not the used one, so UsedHeader stays empty.
func Spec() exchange.Spec {
	return exchange.Spec{
		ID:        ID,
		BaseURL:   "https://api.kucoin.com",
		RateLimit: exchange.RateLimit{Unit: "weight", Limit: 2000, Window: 30 * time.Second, Kind: "sliding", Burst: 200},
		CheckBody: CheckBody,
	}
}

// CheckBody reports errors KuCoin returns in the body: code 429000 is the
// rate limit, any code but 200000 an error.
func CheckBody(body []byte) error {
	var e struct {
		Code wire.Text `json:"code"`
		Msg  string    `json:"msg"`
	}
	if len(body) == 0 || body[0] != '{' || json.Unmarshal(body, &e) != nil || e.Code == "" || e.Code == "200000" {
		return nil
	}
	if e.Code == "429000" {
		return fmt.Errorf("%w: kucoin %s %s", exchange.ErrBodyRateLimited, e.Code, e.Msg)
	}
	return fmt.Errorf("%w: kucoin %s %s", exchange.ErrBodyError, e.Code, e.Msg)
}

// Connector fetches KuCoin spot market data.
type Connector struct{ exchange.Base }

// New returns a connector that sends its requests through r. KuCoin's
// public trades are the latest 100 only.
func New(r exchange.Requester) *Connector {
	return &Connector{Base: exchange.Base{Name: ID, R: r, Caps: exchange.Capabilities{
		AllTickers: true, HistoricalTrades: false, MaxCandles: maxCandles, MaxTrades: maxTrades, MaxDepth: maxDepth,
	}}}
}

// Markets implements exchange.Connector and refreshes the symbol index.
func (c *Connector) Markets(ctx context.Context) ([]market.Market, error) {
	return c.LoadMarkets(ctx, "symbols", "/api/v2/symbols", nil, 4, ParseMarkets)
}

// symbolOf maps KuCoin's id back; without loaded markets it splits BASE-QUOTE.
func (c *Connector) symbolOf(id string) (market.Symbol, bool) {
	if c.Index.Loaded() {
		m, ok := c.Index.ByID(id)
		return m.Symbol, ok
	}
	return deriveSymbol(id)
}

// Tickers implements exchange.Connector: allTickers for several symbols or
// all, market/stats for one.
func (c *Connector) Tickers(ctx context.Context, symbols []market.Symbol) ([]market.Ticker, error) {
	if len(symbols) == 1 {
		id, err := c.MarketID(symbols[0], deriveID)
		if err != nil {
			return nil, err
		}
		t, err := exchange.Fetch(ctx, &c.Base, "stats", "/api/v1/market/stats", url.Values{"symbol": {id}}, 15, ParseTicker)
		if err != nil {
			return nil, err
		}
		t.Symbol, t.ExchangeSymbol = symbols[0], id
		return []market.Ticker{t}, nil
	}
	want := map[market.Symbol]bool{}
	for _, s := range symbols {
		if _, err := c.MarketID(s, deriveID); err != nil {
			return nil, err
		}
		want[s] = true
	}
	ts, err := exchange.Fetch(ctx, &c.Base, "allTickers", "/api/v1/market/allTickers", nil, 15,
		func(body []byte) ([]market.Ticker, error) { return ParseAllTickers(body, c.symbolOf) })
	if err != nil {
		return nil, err
	}
	if len(want) > 0 {
		ts = slices.DeleteFunc(ts, func(t market.Ticker) bool { return !want[t.Symbol] })
	}
	return ts, nil
}

// OrderBook implements exchange.Connector with the public partial books
// (20 or 100 levels); the full book needs an API key.
func (c *Connector) OrderBook(ctx context.Context, symbol market.Symbol, depth int) (market.OrderBook, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return market.OrderBook{}, err
	}
	depth = min(max(depth, 0), maxDepth)
	ep, weight := "level2_100", 4
	if depth > 0 && depth <= 20 {
		ep, weight = "level2_20", 2
	}
	return exchange.FetchBook(ctx, &c.Base, symbol, id, depth,
		ep, "/api/v1/market/orderbook/"+ep, url.Values{"symbol": {id}}, weight, ParseOrderBook)
}

var intervals = exchange.Timeframes[string]{
	market.TF1m: "1min", market.TF5m: "5min", market.TF15m: "15min",
	market.TF1h: "1hour", market.TF4h: "4hour", market.TF1d: "1day",
}

// OHLCV implements exchange.Connector. KuCoin takes startAt/endAt in
// seconds; as CCXT, a since with a limit asks for exactly that span.
func (c *Connector) OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	typ, id, err := exchange.CandleParams(&c.Base, intervals, tf, symbol, deriveID)
	if err != nil {
		return nil, err
	}
	limit = min(max(limit, 0), maxCandles)
	q := url.Values{"symbol": {id}, "type": {typ}}
	if !since.IsZero() {
		n := limit
		if n == 0 {
			n = maxCandles
		}
		start := exchange.SinceSeconds(since)
		q.Set("startAt", strconv.FormatInt(start, 10))
		q.Set("endAt", strconv.FormatInt(start+int64(n)*int64(tf.Duration()/time.Second), 10))
	}
	return exchange.FetchCandles(ctx, &c.Base, symbol, tf, since, limit,
		"candles", "/api/v1/market/candles", q, 3, ParseOHLCV)
}

// Trades implements exchange.Connector with the latest 100 trades; a since
// filters them (KuCoin has no public trade history).
func (c *Connector) Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return nil, err
	}
	return exchange.FetchTrades(ctx, &c.Base, symbol, id, since, limit,
		"histories", "/api/v1/market/histories", url.Values{"symbol": {id}}, 3, ParseTrades)
}
