// Package kraken is the connector for Kraken spot (api.kraken.com).
package kraken

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
)

// ID is CCXT's id for Kraken.
const ID = "kraken"

// Page sizes from Kraken's REST documentation.
const (
	maxCandles = 720 // OHLC returns at most 720 entries
	maxTrades  = 1000
	maxDepth   = 500
)

// Spec describes Kraken's public API. Kraken rate-limits public endpoints
// per IP (and per pair for Trades and OHLC) without publishing a counter;
// its support article "What are the API rate limits?" says calling them
// once per second or less stays within the limits (CCXT: rateLimit 1000 ms):
// a token bucket of one call, refilled every second.
func Spec() exchange.Spec {
	return exchange.Spec{
		ID:        ID,
		BaseURL:   "https://api.kraken.com",
		RateLimit: exchange.RateLimit{Unit: "calls", Limit: 1, Window: time.Second, Kind: "bucket", Burst: 1},
		CheckBody: CheckBody,
	}
}

// CheckBody reports the errors Kraken returns in error[] with HTTP 200.
// Warnings (W...) are not errors.
func CheckBody(body []byte) error {
	var e struct {
		Error []string `json:"error"`
	}
	if len(body) == 0 || body[0] != '{' || json.Unmarshal(body, &e) != nil {
		return nil
	}
	for _, msg := range e.Error {
		switch {
		case strings.HasPrefix(msg, "EAPI:Rate limit exceeded"), strings.HasPrefix(msg, "EGeneral:Too many requests"),
			strings.HasPrefix(msg, "EService:Throttled"):
			return fmt.Errorf("%w: kraken %s", exchange.ErrBodyRateLimited, msg)
		case strings.HasPrefix(msg, "E"):
			return fmt.Errorf("%w: kraken %s", exchange.ErrBodyError, strings.Join(e.Error, "; "))
		}
	}
	return nil
}

// Connector fetches Kraken spot market data. Kraken's pair ids cannot be
// derived from symbols (XXBTZUSD, XBTUSDT), so every call loads AssetPairs
// first, once.
type Connector struct {
	exchange.Base
	// altnames maps Kraken's alternative pair names (XBTUSD) to markets:
	// responses are keyed by the name used in the request.
	altMu    sync.RWMutex
	altnames map[string]market.Market
}

// New returns a connector that sends its requests through r.
func New(r exchange.Requester) *Connector {
	return &Connector{Base: exchange.Base{Name: ID, R: r, Caps: exchange.Capabilities{
		AllTickers: true, HistoricalTrades: true, MaxCandles: maxCandles, MaxTrades: maxTrades, MaxDepth: maxDepth,
	}}}
}

// Markets implements exchange.Connector and refreshes the symbol index.
func (c *Connector) Markets(ctx context.Context) ([]market.Market, error) {
	var alt map[string]market.Market
	ms, err := c.LoadMarkets(ctx, "AssetPairs", "/0/public/AssetPairs", nil, 1, func(body []byte) ([]market.Market, error) {
		ms, a, err := parseMarkets(body)
		alt = a
		return ms, err
	})
	if err != nil {
		return nil, err
	}
	c.altMu.Lock()
	c.altnames = alt
	c.altMu.Unlock()
	return ms, nil
}

// pairID is Kraken's id of a symbol, from the markets, loaded first if
// need be.
func (c *Connector) pairID(ctx context.Context, s market.Symbol) (string, error) {
	if err := c.EnsureMarkets(ctx, c.Markets); err != nil {
		return "", err
	}
	return c.MarketID(s, nil)
}

// byKey resolves a result key: the pair id, or its altname.
func (c *Connector) byKey(key string) (market.Market, bool) {
	if m, ok := c.Index.ByID(key); ok {
		return m, true
	}
	c.altMu.RLock()
	defer c.altMu.RUnlock()
	m, ok := c.altnames[key]
	return m, ok
}

// Tickers implements exchange.Connector: Ticker without pair returns every pair.
func (c *Connector) Tickers(ctx context.Context, symbols []market.Symbol) ([]market.Ticker, error) {
	if err := c.EnsureMarkets(ctx, c.Markets); err != nil {
		return nil, err
	}
	q := url.Values{}
	want := map[market.Symbol]bool{}
	if len(symbols) > 0 {
		ids := make([]string, 0, len(symbols))
		for _, s := range symbols {
			id, err := c.pairID(ctx, s)
			if err != nil {
				return nil, err
			}
			ids = append(ids, id)
			want[s] = true
		}
		q.Set("pair", strings.Join(ids, ","))
	}
	ts, err := exchange.Fetch(ctx, &c.Base, "Ticker", "/0/public/Ticker", q, 1,
		func(body []byte) ([]market.Ticker, error) { return ParseTickers(body, c.byKey) })
	if err != nil {
		return nil, err
	}
	if len(want) > 0 {
		ts = slices.DeleteFunc(ts, func(t market.Ticker) bool { return !want[t.Symbol] })
	}
	return ts, nil
}

// OrderBook implements exchange.Connector.
func (c *Connector) OrderBook(ctx context.Context, symbol market.Symbol, depth int) (market.OrderBook, error) {
	id, err := c.pairID(ctx, symbol)
	if err != nil {
		return market.OrderBook{}, err
	}
	depth = min(max(depth, 0), maxDepth)
	q := url.Values{"pair": {id}}
	if depth > 0 {
		q.Set("count", strconv.Itoa(depth))
	}
	return exchange.FetchBook(ctx, &c.Base, symbol, id, depth,
		"Depth", "/0/public/Depth", q, 1, ParseOrderBook)
}

var intervals = exchange.Timeframes[string]{
	market.TF1m: "1", market.TF5m: "5", market.TF15m: "15",
	market.TF1h: "60", market.TF4h: "240", market.TF1d: "1440",
}

// OHLCV implements exchange.Connector. Kraken returns up to 720 candles
// after since (in seconds, the candle holding since included); as CCXT, we
// drop candles before since and apply limit here.
func (c *Connector) OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	interval, err := intervals.Of(ID, tf)
	if err != nil {
		return nil, err
	}
	id, err := c.pairID(ctx, symbol)
	if err != nil {
		return nil, err
	}
	q := url.Values{"pair": {id}, "interval": {interval}}
	if !since.IsZero() {
		q.Set("since", strconv.FormatInt(since.Unix(), 10))
	}
	return exchange.FetchCandles(ctx, &c.Base, symbol, tf, since, min(limit, maxCandles),
		"OHLC", "/0/public/OHLC", q, 1, ParseOHLCV)
}

// Trades implements exchange.Connector; since pages through history
// (Kraken takes it in seconds).
func (c *Connector) Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error) {
	q := url.Values{}
	if !since.IsZero() {
		q.Set("since", strconv.FormatInt(since.Unix(), 10))
	}
	if limit > 0 {
		q.Set("count", strconv.Itoa(min(limit, maxTrades)))
	}
	id, ts, err := c.trades(ctx, symbol, q)
	if err != nil {
		return nil, err
	}
	return exchange.FinishTrades(ts, symbol, id, since, min(limit, maxTrades)), nil
}

// trades fetches a page of the pair's trades from Trades with q (since,
// count).
func (c *Connector) trades(ctx context.Context, symbol market.Symbol, q url.Values) (string, []market.Trade, error) {
	id, err := c.pairID(ctx, symbol)
	if err != nil {
		return "", nil, err
	}
	q.Set("pair", id)
	ts, err := exchange.Fetch(ctx, &c.Base, "Trades", "/0/public/Trades", q, 1, ParseTrades)
	return id, ts, err
}
