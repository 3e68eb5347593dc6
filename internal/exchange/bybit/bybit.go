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
type Connector struct {
	r     exchange.Requester
	index exchange.MarketIndex
}

// New returns a connector sending its requests through r.
func New(r exchange.Requester) *Connector { return &Connector{r: r} }

var _ exchange.Connector = (*Connector)(nil)

// ID returns "bybit".
func (c *Connector) ID() string { return ID }

// Capabilities of Bybit's public spot API: recent trades only.
func (c *Connector) Capabilities() exchange.Capabilities {
	return exchange.Capabilities{
		AllTickers: true, HistoricalTrades: false,
		MaxCandles: maxCandles, MaxTrades: maxTrades, MaxDepth: maxDepth,
	}
}

func (c *Connector) get(ctx context.Context, endpoint, path string, q url.Values) ([]byte, error) {
	q.Set("category", "spot")
	return wire.Client{R: c.r, Exchange: ID}.Get(ctx, endpoint, path, q, 1)
}

// Markets lists Bybit's spot instruments and refreshes the symbol index.
func (c *Connector) Markets(ctx context.Context) ([]market.Market, error) {
	const ep = "markets"
	body, err := c.get(ctx, ep, "/v5/market/instruments-info", url.Values{})
	if err != nil {
		return nil, err
	}
	ms, err := parseMarkets(body)
	if err != nil {
		return nil, decodeError(ep, body, err)
	}
	c.index.Set(ms)
	return ms, nil
}

// symbolID maps a unified symbol to Bybit's id: from the index once
// loaded, otherwise derived (BTC/USDT -> BTCUSDT).
func (c *Connector) symbolID(s market.Symbol) (string, error) {
	if c.index.Loaded() {
		m, ok := c.index.BySymbol(s)
		if !ok {
			return "", fmt.Errorf("bybit %s: %w", s, exchange.ErrUnknownSymbol)
		}
		return m.ID, nil
	}
	return deriveID(s), nil
}

// Tickers fetches /v5/market/tickers?category=spot, with symbol= for one
// symbol. All tickers need the market list to map BTCUSDT back to
// BTC/USDT; it is loaded on first use.
func (c *Connector) Tickers(ctx context.Context, symbols []market.Symbol) ([]market.Ticker, error) {
	ids := make(map[string]market.Symbol, len(symbols))
	for _, s := range symbols {
		id, err := c.symbolID(s)
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
		if !c.index.Loaded() {
			if _, err := c.Markets(ctx); err != nil {
				return nil, fmt.Errorf("loading bybit markets for tickers: %w", err)
			}
		}
		symbolOf = func(id string) (market.Symbol, bool) {
			m, ok := c.index.ByID(id)
			return m.Symbol, ok
		}
	case 1:
		ep = "ticker"
		for id := range ids {
			q.Set("symbol", id)
		}
	}
	body, err := c.get(ctx, ep, "/v5/market/tickers", q)
	if err != nil {
		return nil, err
	}
	ts, err := parseTickers(body, symbolOf)
	if err != nil {
		return nil, decodeError(ep, body, err)
	}
	if len(symbols) == 1 && len(ts) != 1 {
		return nil, decodeError(ep, body, fmt.Errorf("want the ticker of %s, got %d: %w", symbols[0], len(ts), wire.ErrShape))
	}
	return ts, nil
}

// OrderBook fetches /v5/market/orderbook (spot: up to 200 levels).
func (c *Connector) OrderBook(ctx context.Context, symbol market.Symbol, depth int) (market.OrderBook, error) {
	id, err := c.symbolID(symbol)
	if err != nil {
		return market.OrderBook{}, err
	}
	if depth <= 0 {
		depth = defaultDepth
	}
	depth = min(depth, maxDepth)
	const ep = "orderbook"
	body, err := c.get(ctx, ep, "/v5/market/orderbook", url.Values{"symbol": {id}, "limit": {strconv.Itoa(depth)}})
	if err != nil {
		return market.OrderBook{}, err
	}
	b, err := parseOrderBook(body, depth)
	if err != nil {
		return market.OrderBook{}, decodeError(ep, body, err)
	}
	b.Exchange, b.Symbol, b.ExchangeSymbol = ID, symbol, id
	return b, nil
}

var intervals = map[market.Timeframe]string{
	market.TF1m: "1", market.TF5m: "5", market.TF15m: "15",
	market.TF1h: "60", market.TF4h: "240", market.TF1d: "D",
}

// OHLCV fetches /v5/market/kline. With since, the window is [start, start
// + limit bars), start rounded up to a bar boundary as CCXT does (Bybit
// would return the bar containing since).
func (c *Connector) OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	id, err := c.symbolID(symbol)
	if err != nil {
		return nil, err
	}
	iv, ok := intervals[tf]
	if !ok {
		return nil, fmt.Errorf("bybit timeframe %q: %w", tf, exchange.ErrUnsupported)
	}
	if limit <= 0 {
		limit = defaultCandles
	}
	limit = min(limit, maxCandles)
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
	const ep = "ohlcv"
	body, err := c.get(ctx, ep, "/v5/market/kline", q)
	if err != nil {
		return nil, err
	}
	cs, err := parseCandles(body)
	if err != nil {
		return nil, decodeError(ep, body, err)
	}
	if !since.IsZero() {
		i := 0
		for i < len(cs) && cs[i].Time.Before(since) {
			i++
		}
		cs = cs[i:]
	}
	if len(cs) > limit {
		if since.IsZero() {
			cs = cs[len(cs)-limit:]
		} else {
			cs = cs[:limit]
		}
	}
	for i := range cs {
		cs[i].Symbol, cs[i].Timeframe = symbol, tf
	}
	return cs, nil
}

// Trades fetches /v5/market/recent-trade: Bybit spot keeps only the last
// 60 trades, so since can only filter them (Capabilities.HistoricalTrades
// is false).
func (c *Connector) Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error) {
	id, err := c.symbolID(symbol)
	if err != nil {
		return nil, err
	}
	q := url.Values{"symbol": {id}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(min(limit, maxTrades)))
	}
	const ep = "trades"
	body, err := c.get(ctx, ep, "/v5/market/recent-trade", q)
	if err != nil {
		return nil, err
	}
	ts, err := parseTrades(body)
	if err != nil {
		return nil, decodeError(ep, body, err)
	}
	i := 0
	for i < len(ts) && ts[i].Time.Before(since) {
		i++
	}
	ts = ts[i:]
	for i := range ts {
		ts[i].Symbol, ts[i].ExchangeSymbol = symbol, id
	}
	return ts, nil
}
