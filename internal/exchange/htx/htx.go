// Package htx is the connector for HTX (formerly Huobi) spot (api.huobi.pro).
package htx

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
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
type Connector struct {
	r     exchange.Requester
	index exchange.MarketIndex
}

// New returns a connector that sends its requests through r.
func New(r exchange.Requester) *Connector { return &Connector{r: r} }

// ID implements exchange.Connector.
func (c *Connector) ID() string { return ID }

// Capabilities implements exchange.Connector. HTX's public trades are the
// latest 2000 only.
func (c *Connector) Capabilities() exchange.Capabilities {
	return exchange.Capabilities{AllTickers: true, HistoricalTrades: false, MaxCandles: maxCandles, MaxTrades: maxTrades, MaxDepth: maxDepth}
}

func (c *Connector) get(ctx context.Context, endpoint, path string, q url.Values) ([]byte, error) {
	return wire.Client{R: c.r, Exchange: ID}.Get(ctx, endpoint, path, q, 1)
}

func decodeError(endpoint string, body []byte, err error) error {
	return &exchange.DecodeError{Exchange: ID, Endpoint: endpoint, Payload: body, Err: err}
}

// envelope is {"status":"ok","ts":...,"data"|"tick":...}.
type envelope struct {
	Status string          `json:"status"`
	TS     wire.Text       `json:"ts"`
	Data   json.RawMessage `json:"data"`
	Tick   json.RawMessage `json:"tick"`
}

func open(body []byte) (envelope, error) {
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return e, err
	}
	if e.Status != "ok" {
		return e, fmt.Errorf("status %q", e.Status)
	}
	return e, nil
}

func present(b json.RawMessage) bool { return len(b) > 0 && string(b) != "null" }

// Markets implements exchange.Connector and refreshes the symbol index.
func (c *Connector) Markets(ctx context.Context) ([]market.Market, error) {
	const ep = "symbols"
	body, err := c.get(ctx, ep, "/v1/common/symbols", nil)
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

// ParseMarkets parses GET /v1/common/symbols.
func ParseMarkets(body []byte) ([]market.Market, error) {
	e, err := open(body)
	if err != nil {
		return nil, err
	}
	var raws []struct {
		Base   string `json:"base-currency"`
		Quote  string `json:"quote-currency"`
		Symbol string `json:"symbol"`
		State  string `json:"state"`
	}
	if err := json.Unmarshal(e.Data, &raws); err != nil {
		return nil, err
	}
	ms := make([]market.Market, 0, len(raws))
	for _, r := range raws {
		sym, err := market.ParseSymbol(market.CommonCurrency(r.Base) + "/" + market.CommonCurrency(r.Quote))
		if err != nil || r.Symbol == "" {
			return nil, fmt.Errorf("symbol %q: missing id, base or quote", r.Symbol)
		}
		ms = append(ms, market.Market{
			Exchange: ID, ID: r.Symbol, Symbol: sym, Base: sym.Base(), Quote: sym.Quote(),
			BaseID: r.Base, QuoteID: r.Quote, Active: r.State == "online", Type: "spot",
		})
	}
	return ms, nil
}

// marketID maps a unified symbol to HTX's id; without loaded markets it is
// lower-case base+quote, HTX's naming for spot pairs.
func (c *Connector) marketID(s market.Symbol) (string, error) {
	if c.index.Loaded() {
		m, ok := c.index.BySymbol(s)
		if !ok {
			return "", fmt.Errorf("%w: htx %s", exchange.ErrUnknownSymbol, s)
		}
		return m.ID, nil
	}
	return strings.ToLower(s.Base() + s.Quote()), nil
}

// Tickers implements exchange.Connector: market/tickers returns every
// symbol; one symbol uses market/detail/merged, which adds bid/ask sizes.
func (c *Connector) Tickers(ctx context.Context, symbols []market.Symbol) ([]market.Ticker, error) {
	if len(symbols) == 1 {
		const ep = "detail/merged"
		id, err := c.marketID(symbols[0])
		if err != nil {
			return nil, err
		}
		body, err := c.get(ctx, ep, "/market/detail/merged", url.Values{"symbol": {id}})
		if err != nil {
			return nil, err
		}
		t, err := ParseTicker(body)
		if err != nil {
			return nil, decodeError(ep, body, err)
		}
		t.Symbol, t.ExchangeSymbol = symbols[0], id
		return []market.Ticker{t}, nil
	}
	const ep = "tickers"
	want := map[string]market.Symbol{}
	for _, s := range symbols {
		id, err := c.marketID(s)
		if err != nil {
			return nil, err
		}
		want[id] = s
	}
	body, err := c.get(ctx, ep, "/market/tickers", nil)
	if err != nil {
		return nil, err
	}
	resolve := func(id string) (market.Symbol, bool) {
		if len(want) > 0 {
			s, ok := want[id]
			return s, ok
		}
		if m, ok := c.index.ByID(id); ok {
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

// ParseTicker parses GET /market/detail/merged.
func ParseTicker(body []byte) (market.Ticker, error) {
	e, err := open(body)
	if err != nil {
		return market.Ticker{}, err
	}
	if !present(e.Tick) {
		return market.Ticker{}, errors.New("no tick")
	}
	var r struct {
		Open   wire.Text   `json:"open"`
		Close  wire.Text   `json:"close"`
		Low    wire.Text   `json:"low"`
		High   wire.Text   `json:"high"`
		Amount wire.Text   `json:"amount"`
		Vol    wire.Text   `json:"vol"`
		Bid    []wire.Text `json:"bid"`
		Ask    []wire.Text `json:"ask"`
	}
	if err := json.Unmarshal(e.Tick, &r); err != nil {
		return market.Ticker{}, err
	}
	at := func(xs []wire.Text, i int) wire.Text {
		if i < len(xs) {
			return xs[i]
		}
		return ""
	}
	var f wire.Fields
	t := ticker(&f, e.TS, r.Open, r.Close, r.Low, r.High, r.Amount, r.Vol, at(r.Bid, 0), at(r.Bid, 1), at(r.Ask, 0), at(r.Ask, 1))
	if f.Err != nil {
		return market.Ticker{}, f.Err
	}
	return t, nil
}

func ticker(f *wire.Fields, ts, open, closing, low, high, amount, vol, bid, bidSize, ask, askSize wire.Text) market.Ticker {
	last := f.Dec("close", closing)
	base, quote := f.Dec("amount", amount), f.Dec("vol", vol)
	return market.Ticker{
		Exchange: ID, Time: f.Millis("ts", ts),
		Bid: f.Dec("bid", bid), BidVolume: f.Dec("bidSize", bidSize),
		Ask: f.Dec("ask", ask), AskVolume: f.Dec("askSize", askSize),
		Last: last, Close: last, Open: f.Dec("open", open), High: f.Dec("high", high), Low: f.Dec("low", low),
		BaseVolume: base, QuoteVolume: quote,
		VWAP: quote.Quo(base, 18), // as CCXT: vol / amount, 18 places
	}
}

// ParseTickers parses GET /market/tickers, row by row (see wire.Walk);
// resolve maps ids to symbols, unknown ids are skipped, an id listed twice
// fails the answer. The time is the snapshot's.
func ParseTickers(body []byte, resolve func(id string) (market.Symbol, bool)) ([]market.Ticker, error) {
	type raw struct {
		Symbol  string    `json:"symbol"`
		Open    wire.Text `json:"open"`
		High    wire.Text `json:"high"`
		Low     wire.Text `json:"low"`
		Close   wire.Text `json:"close"`
		Amount  wire.Text `json:"amount"`
		Vol     wire.Text `json:"vol"`
		Bid     wire.Text `json:"bid"`
		BidSize wire.Text `json:"bidSize"`
		Ask     wire.Text `json:"ask"`
		AskSize wire.Text `json:"askSize"`
	}
	var status string
	var ts wire.Text
	var rows []raw // only the rows asked for
	var ids []market.Symbol
	seen := wire.Seen{}
	err := wire.Walk(body, map[string]wire.Handler{
		"status": wire.Into(&status),
		"ts":     wire.Into(&ts),
		"data": func(d *json.Decoder) error {
			return wire.Each(d, func(_ int, r *raw) error {
				sym, ok := resolve(r.Symbol)
				if !ok {
					return nil
				}
				if err := seen.Add(r.Symbol); err != nil {
					return err
				}
				rows, ids = append(rows, *r), append(ids, sym)
				return nil
			})
		},
	})
	switch {
	case err != nil:
		return nil, err
	case status != "ok":
		return nil, fmt.Errorf("status %q", status)
	}
	out := make([]market.Ticker, 0, len(rows))
	for i, r := range rows {
		var f wire.Fields
		t := ticker(&f, ts, r.Open, r.Close, r.Low, r.High, r.Amount, r.Vol, r.Bid, r.BidSize, r.Ask, r.AskSize)
		if f.Err != nil {
			return nil, fmt.Errorf("ticker %s: %w", r.Symbol, f.Err)
		}
		t.Symbol, t.ExchangeSymbol = ids[i], r.Symbol
		out = append(out, t)
	}
	return out, nil
}

// OrderBook implements exchange.Connector. HTX's depth parameter takes 5,
// 10 or 20; otherwise step0 returns 150 levels and we cut.
func (c *Connector) OrderBook(ctx context.Context, symbol market.Symbol, depth int) (market.OrderBook, error) {
	const ep = "depth"
	id, err := c.marketID(symbol)
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
	body, err := c.get(ctx, ep, "/market/depth", q)
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

// ParseOrderBook parses GET /market/depth.
func ParseOrderBook(body []byte) (market.OrderBook, error) {
	e, err := open(body)
	if err != nil {
		return market.OrderBook{}, err
	}
	if !present(e.Tick) {
		return market.OrderBook{}, errors.New("no tick")
	}
	var raw struct {
		TS      wire.Text      `json:"ts"`
		Version wire.Text      `json:"version"`
		Bids    [][2]wire.Text `json:"bids"`
		Asks    [][2]wire.Text `json:"asks"`
	}
	if err := json.Unmarshal(e.Tick, &raw); err != nil {
		return market.OrderBook{}, err
	}
	var f wire.Fields
	ts := raw.TS
	if ts == "" {
		ts = e.TS
	}
	b := market.OrderBook{Exchange: ID, Time: f.Millis("ts", ts), Nonce: f.Int("version", raw.Version)}
	for _, l := range raw.Bids {
		b.Bids = append(b.Bids, market.Level{Price: f.Req("bid price", l[0]), Amount: f.Req("bid size", l[1])})
	}
	for _, l := range raw.Asks {
		b.Asks = append(b.Asks, market.Level{Price: f.Req("ask price", l[0]), Amount: f.Req("ask size", l[1])})
	}
	if f.Err != nil {
		return market.OrderBook{}, f.Err
	}
	return b, nil
}

var periods = map[market.Timeframe]string{
	market.TF1m: "1min", market.TF5m: "5min", market.TF15m: "15min",
	market.TF1h: "60min", market.TF4h: "4hour", market.TF1d: "1day",
}

// OHLCV implements exchange.Connector with /market/history/candles, which
// (unlike the documented /market/history/kline) takes from/to in seconds;
// CCXT uses it for spot by default.
func (c *Connector) OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	const ep = "history/candles"
	period, ok := periods[tf]
	if !ok {
		return nil, fmt.Errorf("%w: htx timeframe %q", exchange.ErrUnsupported, tf)
	}
	id, err := c.marketID(symbol)
	if err != nil {
		return nil, err
	}
	limit = min(max(limit, 0), maxCandleLimit)
	q := url.Values{"period": {period}, "symbol": {id}}
	if !since.IsZero() {
		q.Set("from", strconv.FormatInt(since.Unix(), 10))
	}
	if limit > 0 {
		q.Set("size", strconv.Itoa(limit))
	}
	body, err := c.get(ctx, ep, "/market/history/candles", q)
	if err != nil {
		return nil, err
	}
	cs, err := ParseOHLCV(body)
	if err != nil {
		return nil, decodeError(ep, body, err)
	}
	cs = slices.DeleteFunc(cs, func(c market.Candle) bool { return c.Time.Before(since) })
	for i := range cs {
		cs[i].Symbol, cs[i].Timeframe = symbol, tf
	}
	return wire.Keep(cs, limit, since.IsZero()), nil
}

// ParseOHLCV parses kline data [{id (open time, s), open, close, low, high,
// amount (base volume), vol (quote volume), count}], newest first; it
// returns them oldest first.
func ParseOHLCV(body []byte) ([]market.Candle, error) {
	e, err := open(body)
	if err != nil {
		return nil, err
	}
	var raws []struct {
		ID     wire.Text `json:"id"`
		Open   wire.Text `json:"open"`
		Close  wire.Text `json:"close"`
		Low    wire.Text `json:"low"`
		High   wire.Text `json:"high"`
		Amount wire.Text `json:"amount"`
	}
	if err := json.Unmarshal(e.Data, &raws); err != nil {
		return nil, err
	}
	out := make([]market.Candle, 0, len(raws))
	for i, r := range raws {
		var f wire.Fields
		sec := f.Int("id", r.ID)
		c := market.Candle{
			Exchange: ID, Time: time.Unix(sec, 0).UTC(),
			Open: f.Req("open", r.Open), High: f.Req("high", r.High), Low: f.Req("low", r.Low),
			Close: f.Req("close", r.Close), Volume: f.Req("amount", r.Amount),
		}
		if f.Err == nil && sec <= 0 {
			f.Err = errors.New("id (time) missing")
		}
		if f.Err != nil {
			return nil, fmt.Errorf("candle %d: %w", i, f.Err)
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b market.Candle) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// Trades implements exchange.Connector with the latest trades; a since
// filters them (HTX has no public trade history).
func (c *Connector) Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error) {
	const ep = "history/trade"
	id, err := c.marketID(symbol)
	if err != nil {
		return nil, err
	}
	size := defaultTrades
	if limit > 0 {
		size = min(limit, maxTrades)
	}
	body, err := c.get(ctx, ep, "/market/history/trade", url.Values{"symbol": {id}, "size": {strconv.Itoa(size)}})
	if err != nil {
		return nil, err
	}
	ts, err := ParseTrades(body)
	if err != nil {
		return nil, decodeError(ep, body, err)
	}
	ts = slices.DeleteFunc(ts, func(t market.Trade) bool { return t.Time.Before(since) })
	for i := range ts {
		ts[i].Symbol, ts[i].ExchangeSymbol = symbol, id
	}
	return wire.Keep(ts, limit, since.IsZero()), nil
}

// ParseTrades parses GET /market/history/trade: groups data[].data[] of
// trades, newest first. It returns them oldest first, ordered by time and
// then trade id, so that trades of one millisecond keep their sequence.
func ParseTrades(body []byte) ([]market.Trade, error) {
	e, err := open(body)
	if err != nil {
		return nil, err
	}
	var groups []struct {
		Data []struct {
			TradeID   wire.Text `json:"trade-id"`
			TS        wire.Text `json:"ts"`
			Amount    wire.Text `json:"amount"`
			Price     wire.Text `json:"price"`
			Direction string    `json:"direction"`
		} `json:"data"`
	}
	if err := json.Unmarshal(e.Data, &groups); err != nil {
		return nil, err
	}
	var out []market.Trade
	seq := map[string]int64{}
	for _, g := range groups {
		for i, r := range g.Data {
			var f wire.Fields
			t := market.Trade{
				Exchange: ID, ID: string(r.TradeID), Time: f.Millis("ts", r.TS),
				Price: f.Req("price", r.Price), Amount: f.Req("amount", r.Amount),
			}
			seq[t.ID] = f.Int("trade-id", r.TradeID)
			switch r.Direction {
			case "buy":
				t.Side = market.SideBuy
			case "sell":
				t.Side = market.SideSell
			}
			if f.Err == nil && (t.ID == "" || t.Time.IsZero()) {
				f.Err = errors.New("trade-id or ts missing")
			}
			if f.Err != nil {
				return nil, fmt.Errorf("trade %d: %w", i, f.Err)
			}
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b market.Trade) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(seq[a.ID], seq[b.ID]))
	})
	return out, nil
}
