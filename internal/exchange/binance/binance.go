// Package binance is the connector for Binance spot (api.binance.com).
package binance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/wire"
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
type Connector struct {
	r      exchange.Requester
	index  exchange.MarketIndex
	loadMu sync.Mutex
}

// New returns a connector that sends its requests through r.
func New(r exchange.Requester) *Connector { return &Connector{r: r} }

// ID implements exchange.Connector.
func (c *Connector) ID() string { return ID }

// Capabilities implements exchange.Connector.
func (c *Connector) Capabilities() exchange.Capabilities {
	return exchange.Capabilities{AllTickers: true, HistoricalTrades: true, MaxCandles: maxCandles, MaxTrades: maxTrades, MaxDepth: maxDepth, ConsecutiveTradeIDs: true}
}

func (c *Connector) get(ctx context.Context, endpoint, path string, q url.Values, weight int) ([]byte, error) {
	return wire.Client{R: c.r, Exchange: ID}.Get(ctx, endpoint, path, q, weight)
}

func decodeError(endpoint string, body []byte, err error) error {
	return &exchange.DecodeError{Exchange: ID, Endpoint: endpoint, Payload: body, Err: err}
}

// currency maps a Binance asset to CCXT's code: Binance's own renames
// (CCXT keeps BCC as BCC here, YOYO is YOYOW) over the common ones.
func currency(asset string) string {
	switch strings.ToUpper(asset) {
	case "BCC":
		return "BCC"
	case "YOYO":
		return "YOYOW"
	}
	return market.CommonCurrency(asset)
}

// Markets implements exchange.Connector and refreshes the symbol index.
func (c *Connector) Markets(ctx context.Context) ([]market.Market, error) {
	const ep = "exchangeInfo"
	body, err := c.get(ctx, ep, "/api/v3/exchangeInfo", nil, 20)
	if err != nil {
		return nil, err
	}
	ms, err := ParseMarkets(body)
	if err != nil {
		return nil, decodeError(ep, body, err)
	}
	c.index.Set(ms)
	return ms, nil
}

// ParseMarkets parses GET /api/v3/exchangeInfo.
func ParseMarkets(body []byte) ([]market.Market, error) {
	var info struct {
		Symbols []struct {
			Symbol     string `json:"symbol"`
			Status     string `json:"status"`
			BaseAsset  string `json:"baseAsset"`
			QuoteAsset string `json:"quoteAsset"`
		} `json:"symbols"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, err
	}
	ms := make([]market.Market, 0, len(info.Symbols))
	for _, s := range info.Symbols {
		if s.Symbol == "" || s.BaseAsset == "" || s.QuoteAsset == "" {
			return nil, fmt.Errorf("symbol %q: missing id, base or quote", s.Symbol)
		}
		base, quote := currency(s.BaseAsset), currency(s.QuoteAsset)
		ms = append(ms, market.Market{
			Exchange: ID, ID: s.Symbol, Symbol: market.NewSymbol(base, quote),
			Base: base, Quote: quote, BaseID: s.BaseAsset, QuoteID: s.QuoteAsset,
			Active: s.Status == "TRADING", Type: "spot",
		})
	}
	return ms, nil
}

func (c *Connector) ensureMarkets(ctx context.Context) error {
	if c.index.Loaded() {
		return nil
	}
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	if c.index.Loaded() {
		return nil
	}
	_, err := c.Markets(ctx)
	return err
}

// marketID maps a unified symbol to Binance's id. Without loaded markets the
// id is BASE+QUOTE, which is how Binance names every spot pair.
func (c *Connector) marketID(s market.Symbol) (string, error) {
	if c.index.Loaded() {
		m, ok := c.index.BySymbol(s)
		if !ok {
			return "", fmt.Errorf("%w: binance %s", exchange.ErrUnknownSymbol, s)
		}
		return m.ID, nil
	}
	if s.Base() == "" || s.Quote() == "" {
		return "", fmt.Errorf("%w: binance %s", exchange.ErrUnknownSymbol, s)
	}
	return s.Base() + s.Quote(), nil
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
	const ep = "ticker24hr"
	q := url.Values{}
	ids := map[string]market.Symbol{}
	if len(symbols) == 0 {
		if err := c.ensureMarkets(ctx); err != nil {
			return nil, err
		}
	}
	for _, s := range symbols {
		id, err := c.marketID(s)
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
	body, err := c.get(ctx, ep, "/api/v3/ticker/24hr", q, tickerWeight(len(symbols)))
	if err != nil {
		return nil, err
	}
	resolve := func(id string) (market.Symbol, bool) {
		if s, ok := ids[id]; ok {
			return s, true
		}
		if m, ok := c.index.ByID(id); ok && len(ids) == 0 {
			return m.Symbol, true
		}
		return "", false
	}
	ts, err := ParseTickers(body, resolve)
	if err != nil {
		return nil, decodeError(ep, body, err)
	}
	return ts, nil
}

type rawTicker struct {
	Symbol      string    `json:"symbol"`
	BidPrice    wire.Text `json:"bidPrice"`
	BidQty      wire.Text `json:"bidQty"`
	AskPrice    wire.Text `json:"askPrice"`
	AskQty      wire.Text `json:"askQty"`
	LastPrice   wire.Text `json:"lastPrice"`
	OpenPrice   wire.Text `json:"openPrice"`
	HighPrice   wire.Text `json:"highPrice"`
	LowPrice    wire.Text `json:"lowPrice"`
	WeightedAvg wire.Text `json:"weightedAvgPrice"`
	Volume      wire.Text `json:"volume"`
	QuoteVolume wire.Text `json:"quoteVolume"`
	CloseTime   wire.Text `json:"closeTime"`
}

// ParseTickers parses GET /api/v3/ticker/24hr: one object or an array,
// read row by row (see wire.Walk). resolve maps ids to unified symbols;
// tickers it does not know are skipped (Binance also lists delisted
// pairs), and a symbol listed twice fails the answer.
func ParseTickers(body []byte, resolve func(id string) (market.Symbol, bool)) ([]market.Ticker, error) {
	var out []market.Ticker
	seen := wire.Seen{}
	keep := func(_ int, r *rawTicker) error {
		if r.Symbol == "" {
			return errors.New("ticker without symbol")
		}
		sym, ok := resolve(r.Symbol)
		if !ok {
			return nil
		}
		if err := seen.Add(r.Symbol); err != nil {
			return err
		}
		t, err := r.ticker(sym)
		if err != nil {
			return fmt.Errorf("ticker %s: %w", r.Symbol, err)
		}
		out = append(out, t)
		return nil
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '{' {
		var one rawTicker
		if err := wire.Decode(body, &one); err != nil {
			return nil, err
		}
		return out, keep(0, &one)
	}
	err := wire.Walk(body, map[string]wire.Handler{"": func(d *json.Decoder) error { return wire.Each(d, keep) }})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (r *rawTicker) ticker(sym market.Symbol) (market.Ticker, error) {
	var f wire.Fields
	last := f.Dec("lastPrice", r.LastPrice)
	t := market.Ticker{
		Exchange: ID, Symbol: sym, ExchangeSymbol: r.Symbol,
		Time: f.Millis("closeTime", r.CloseTime),
		Bid:  f.Dec("bidPrice", r.BidPrice), BidVolume: f.Dec("bidQty", r.BidQty),
		Ask: f.Dec("askPrice", r.AskPrice), AskVolume: f.Dec("askQty", r.AskQty),
		Last: last, Close: last,
		Open: f.Dec("openPrice", r.OpenPrice), High: f.Dec("highPrice", r.HighPrice), Low: f.Dec("lowPrice", r.LowPrice),
		VWAP:       f.Dec("weightedAvgPrice", r.WeightedAvg),
		BaseVolume: f.Dec("volume", r.Volume), QuoteVolume: f.Dec("quoteVolume", r.QuoteVolume),
	}
	return t, f.Err
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
	const ep = "depth"
	id, err := c.marketID(symbol)
	if err != nil {
		return market.OrderBook{}, err
	}
	depth = min(max(depth, 0), maxDepth)
	q := url.Values{"symbol": {id}}
	if depth > 0 {
		q.Set("limit", strconv.Itoa(depth))
	}
	body, err := c.get(ctx, ep, "/api/v3/depth", q, depthWeight(depth))
	if err != nil {
		return market.OrderBook{}, err
	}
	b, err := ParseOrderBook(body)
	if err != nil {
		return market.OrderBook{}, decodeError(ep, body, err)
	}
	b.Symbol, b.ExchangeSymbol = symbol, id
	if depth > 0 {
		b.Bids, b.Asks = b.Bids[:min(depth, len(b.Bids))], b.Asks[:min(depth, len(b.Asks))]
	}
	return b, nil
}

// ParseOrderBook parses GET /api/v3/depth. Binance sends no time; the book
// is identified by lastUpdateId (the nonce).
func ParseOrderBook(body []byte) (market.OrderBook, error) {
	var raw struct {
		LastUpdateID wire.Text      `json:"lastUpdateId"`
		Bids         [][2]wire.Text `json:"bids"`
		Asks         [][2]wire.Text `json:"asks"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return market.OrderBook{}, err
	}
	var f wire.Fields
	b := market.OrderBook{Exchange: ID, Nonce: f.Int("lastUpdateId", raw.LastUpdateID)}
	b.Bids = levels(&f, "bids", raw.Bids)
	b.Asks = levels(&f, "asks", raw.Asks)
	if f.Err != nil {
		return market.OrderBook{}, f.Err
	}
	return b, nil
}

func levels(f *wire.Fields, side string, raw [][2]wire.Text) []market.Level {
	out := make([]market.Level, 0, len(raw))
	for _, l := range raw {
		out = append(out, market.Level{Price: f.Req(side+" price", l[0]), Amount: f.Req(side+" amount", l[1])})
	}
	return out
}

var intervals = map[market.Timeframe]string{
	market.TF1m: "1m", market.TF5m: "5m", market.TF15m: "15m",
	market.TF1h: "1h", market.TF4h: "4h", market.TF1d: "1d",
}

// OHLCV implements exchange.Connector.
func (c *Connector) OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	const ep = "klines"
	interval, ok := intervals[tf]
	if !ok {
		return nil, fmt.Errorf("%w: binance timeframe %q", exchange.ErrUnsupported, tf)
	}
	id, err := c.marketID(symbol)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = defaultCandles
	}
	limit = min(limit, maxCandles)
	q := url.Values{"symbol": {id}, "interval": {interval}, "limit": {strconv.Itoa(limit)}}
	if !since.IsZero() {
		q.Set("startTime", strconv.FormatInt(since.UnixMilli(), 10))
	}
	body, err := c.get(ctx, ep, "/api/v3/klines", q, 2)
	if err != nil {
		return nil, err
	}
	cs, err := ParseOHLCV(body)
	if err != nil {
		return nil, decodeError(ep, body, err)
	}
	for i := range cs {
		cs[i].Symbol, cs[i].Timeframe = symbol, tf
	}
	return wire.Keep(cs, limit, since.IsZero()), nil
}

// ParseOHLCV parses GET /api/v3/klines rows [openTime, o, h, l, c, v, ...],
// oldest first.
func ParseOHLCV(body []byte) ([]market.Candle, error) {
	var rows [][]wire.Text
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, err
	}
	out := make([]market.Candle, 0, len(rows))
	for i, r := range rows {
		if len(r) < 6 {
			return nil, fmt.Errorf("kline %d: %d fields, want at least 6", i, len(r))
		}
		var f wire.Fields
		c := market.Candle{
			Exchange: ID, Time: f.Millis("openTime", r[0]),
			Open: f.Req("open", r[1]), High: f.Req("high", r[2]), Low: f.Req("low", r[3]),
			Close: f.Req("close", r[4]), Volume: f.Req("volume", r[5]),
		}
		if f.Err == nil && c.Time.IsZero() {
			f.Err = errors.New("openTime missing")
		}
		if f.Err != nil {
			return nil, fmt.Errorf("kline %d: %w", i, f.Err)
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b market.Candle) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// Trades implements exchange.Connector with aggregate trades: they carry a
// time filter, unlike /api/v3/historicalTrades (id only, weight 25).
func (c *Connector) Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error) {
	const ep = "aggTrades"
	id, err := c.marketID(symbol)
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
	body, err := c.get(ctx, ep, "/api/v3/aggTrades", q, 4)
	if err != nil {
		return nil, err
	}
	ts, err := ParseTrades(body)
	if err != nil {
		return nil, decodeError(ep, body, err)
	}
	for i := range ts {
		ts[i].Symbol, ts[i].ExchangeSymbol = symbol, id
	}
	return wire.Keep(ts, limit, since.IsZero()), nil
}

// ParseTrades parses GET /api/v3/aggTrades. m (buyer is maker) means the
// taker sold.
func ParseTrades(body []byte) ([]market.Trade, error) {
	var raws []struct {
		ID           wire.Text `json:"a"`
		Price        wire.Text `json:"p"`
		Qty          wire.Text `json:"q"`
		Time         wire.Text `json:"T"`
		BuyerIsMaker *bool     `json:"m"`
		// M (best price match) is declared so that encoding/json's
		// case-insensitive matching cannot read it as m.
		BestMatch *bool `json:"M"`
	}
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, err
	}
	out := make([]market.Trade, 0, len(raws))
	for i, r := range raws {
		var f wire.Fields
		t := market.Trade{
			Exchange: ID, ID: string(r.ID), Time: f.Millis("T", r.Time),
			Price: f.Req("p", r.Price), Amount: f.Req("q", r.Qty),
		}
		if r.BuyerIsMaker != nil {
			t.Side = market.SideBuy
			if *r.BuyerIsMaker {
				t.Side = market.SideSell
			}
		}
		if f.Err == nil && (t.ID == "" || t.Time.IsZero()) {
			f.Err = errors.New("id or time missing")
		}
		if f.Err != nil {
			return nil, fmt.Errorf("trade %d: %w", i, f.Err)
		}
		out = append(out, t)
	}
	slices.SortStableFunc(out, func(a, b market.Trade) int { return a.Time.Compare(b.Time) })
	return out, nil
}
