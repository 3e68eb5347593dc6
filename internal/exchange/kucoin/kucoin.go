// Package kucoin is the connector for KuCoin spot (api.kucoin.com).
package kucoin

import (
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

// commonCurrencies are CCXT's KuCoin renames (a subset: those that are
// valid unified codes) over market.CommonCurrency.
var commonCurrencies = map[string]string{"BIFI": "BIFIF", "VAI": "VAIOT", "WAX": "WAXP"}

func currency(c string) string {
	if u, ok := commonCurrencies[strings.ToUpper(c)]; ok {
		return u
	}
	return market.CommonCurrency(c)
}

// Connector fetches KuCoin spot market data.
type Connector struct {
	r     exchange.Requester
	index exchange.MarketIndex
}

// New returns a connector that sends its requests through r.
func New(r exchange.Requester) *Connector { return &Connector{r: r} }

// ID implements exchange.Connector.
func (c *Connector) ID() string { return ID }

// Capabilities implements exchange.Connector. KuCoin's public trades are
// the latest 100 only.
func (c *Connector) Capabilities() exchange.Capabilities {
	return exchange.Capabilities{AllTickers: true, HistoricalTrades: false, MaxCandles: maxCandles, MaxTrades: maxTrades, MaxDepth: maxDepth}
}

func (c *Connector) get(ctx context.Context, endpoint, path string, q url.Values, weight int) ([]byte, error) {
	return wire.Client{R: c.r, Exchange: ID}.Get(ctx, endpoint, path, q, weight)
}

func decodeError(endpoint string, body []byte, err error) error {
	return &exchange.DecodeError{Exchange: ID, Endpoint: endpoint, Payload: body, Err: err}
}

// data unwraps {"code":"200000","data":...}.
func data(body []byte) (json.RawMessage, error) {
	var e struct {
		Code wire.Text       `json:"code"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, err
	}
	if e.Code != "200000" {
		return nil, fmt.Errorf("code %q", e.Code)
	}
	if len(e.Data) == 0 || string(e.Data) == "null" {
		return nil, errors.New("no data")
	}
	return e.Data, nil
}

// Markets implements exchange.Connector and refreshes the symbol index.
func (c *Connector) Markets(ctx context.Context) ([]market.Market, error) {
	const ep = "symbols"
	body, err := c.get(ctx, ep, "/api/v2/symbols", nil, 4)
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

// ParseMarkets parses GET /api/v2/symbols.
func ParseMarkets(body []byte) ([]market.Market, error) {
	d, err := data(body)
	if err != nil {
		return nil, err
	}
	var raws []struct {
		Symbol        string `json:"symbol"`
		BaseCurrency  string `json:"baseCurrency"`
		QuoteCurrency string `json:"quoteCurrency"`
		EnableTrading bool   `json:"enableTrading"`
	}
	if err := json.Unmarshal(d, &raws); err != nil {
		return nil, err
	}
	ms := make([]market.Market, 0, len(raws))
	for _, r := range raws {
		sym, err := market.ParseSymbol(currency(r.BaseCurrency) + "/" + currency(r.QuoteCurrency))
		if err != nil || r.Symbol == "" {
			return nil, fmt.Errorf("symbol %q: missing id, base or quote", r.Symbol)
		}
		ms = append(ms, market.Market{
			Exchange: ID, ID: r.Symbol, Symbol: sym, Base: sym.Base(), Quote: sym.Quote(),
			BaseID: r.BaseCurrency, QuoteID: r.QuoteCurrency, Active: r.EnableTrading, Type: "spot",
		})
	}
	return ms, nil
}

// marketID maps a unified symbol to KuCoin's id; without loaded markets it
// is BASE-QUOTE, KuCoin's naming for every spot pair.
func (c *Connector) marketID(s market.Symbol) (string, error) {
	if c.index.Loaded() {
		m, ok := c.index.BySymbol(s)
		if !ok {
			return "", fmt.Errorf("%w: kucoin %s", exchange.ErrUnknownSymbol, s)
		}
		return m.ID, nil
	}
	return s.Base() + "-" + s.Quote(), nil
}

// symbolOf maps KuCoin's id back; without loaded markets it splits BASE-QUOTE.
func (c *Connector) symbolOf(id string) (market.Symbol, bool) {
	if c.index.Loaded() {
		m, ok := c.index.ByID(id)
		return m.Symbol, ok
	}
	base, quote, ok := strings.Cut(id, "-")
	if !ok {
		return "", false
	}
	s, err := market.ParseSymbol(currency(base) + "/" + currency(quote))
	return s, err == nil
}

// Tickers implements exchange.Connector: allTickers for several symbols or
// all, market/stats for one.
func (c *Connector) Tickers(ctx context.Context, symbols []market.Symbol) ([]market.Ticker, error) {
	if len(symbols) == 1 {
		const ep = "stats"
		id, err := c.marketID(symbols[0])
		if err != nil {
			return nil, err
		}
		body, err := c.get(ctx, ep, "/api/v1/market/stats", url.Values{"symbol": {id}}, 15)
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
	const ep = "allTickers"
	want := map[market.Symbol]bool{}
	for _, s := range symbols {
		if _, err := c.marketID(s); err != nil {
			return nil, err
		}
		want[s] = true
	}
	body, err := c.get(ctx, ep, "/api/v1/market/allTickers", nil, 15)
	if err != nil {
		return nil, err
	}
	ts, err := ParseAllTickers(body, c.symbolOf)
	if err != nil {
		return nil, decodeError(ep, body, err)
	}
	if len(want) > 0 {
		ts = slices.DeleteFunc(ts, func(t market.Ticker) bool { return !want[t.Symbol] })
	}
	return ts, nil
}

type rawTicker struct {
	Symbol      string    `json:"symbol"`
	Time        wire.Text `json:"time"`
	Buy         wire.Text `json:"buy"`
	BestBidSize wire.Text `json:"bestBidSize"`
	Sell        wire.Text `json:"sell"`
	BestAskSize wire.Text `json:"bestAskSize"`
	ChangePrice wire.Text `json:"changePrice"`
	High        wire.Text `json:"high"`
	Low         wire.Text `json:"low"`
	Vol         wire.Text `json:"vol"`
	VolValue    wire.Text `json:"volValue"`
	Last        wire.Text `json:"last"`
}

func (r rawTicker) ticker(at time.Time) (market.Ticker, error) {
	var f wire.Fields
	last := f.Dec("last", r.Last)
	base, quote := f.Dec("vol", r.Vol), f.Dec("volValue", r.VolValue)
	t := market.Ticker{
		Exchange: ID, ExchangeSymbol: r.Symbol, Time: at,
		Bid: f.Dec("buy", r.Buy), BidVolume: f.Dec("bestBidSize", r.BestBidSize),
		Ask: f.Dec("sell", r.Sell), AskVolume: f.Dec("bestAskSize", r.BestAskSize),
		Last: last, Close: last, High: f.Dec("high", r.High), Low: f.Dec("low", r.Low),
		BaseVolume: base, QuoteVolume: quote,
	}
	// KuCoin sends neither open nor vwap; derive them as CCXT does:
	// open = last - changePrice (exact), vwap = volValue / vol (18 places).
	t.Open = last.Sub(f.Dec("changePrice", r.ChangePrice))
	t.VWAP = quote.Quo(base, 18)
	if f.Err != nil {
		return market.Ticker{}, f.Err
	}
	return t, nil
}

// ParseTicker parses GET /api/v1/market/stats.
func ParseTicker(body []byte) (market.Ticker, error) {
	d, err := data(body)
	if err != nil {
		return market.Ticker{}, err
	}
	var r rawTicker
	if err := json.Unmarshal(d, &r); err != nil {
		return market.Ticker{}, err
	}
	var f wire.Fields
	at := f.Millis("time", r.Time)
	if f.Err != nil {
		return market.Ticker{}, f.Err
	}
	return r.ticker(at)
}

// ParseAllTickers parses GET /api/v1/market/allTickers, row by row (see
// wire.Walk); the time is the snapshot's. resolve maps ids to symbols;
// unknown ids are skipped, an id listed twice fails the answer.
func ParseAllTickers(body []byte, resolve func(id string) (market.Symbol, bool)) ([]market.Ticker, error) {
	var code, at wire.Text
	var out []market.Ticker
	seen := wire.Seen{}
	hasData := false
	err := wire.Walk(body, map[string]wire.Handler{
		"code":      wire.Into(&code),
		"data.time": func(d *json.Decoder) error { hasData = true; return d.Decode(&at) },
		"data.ticker": func(d *json.Decoder) error {
			hasData = true
			return wire.Each(d, func(_ int, r *rawTicker) error {
				sym, ok := resolve(r.Symbol)
				if !ok {
					return nil
				}
				if err := seen.Add(r.Symbol); err != nil {
					return err
				}
				t, err := r.ticker(time.Time{})
				if err != nil {
					return fmt.Errorf("ticker %s: %w", r.Symbol, err)
				}
				t.Symbol = sym
				out = append(out, t)
				return nil
			})
		},
	})
	switch {
	case err != nil:
		return nil, err
	case code != "200000":
		return nil, fmt.Errorf("code %q", code)
	case !hasData:
		return nil, errors.New("no data")
	}
	var f wire.Fields
	when := f.Millis("time", at)
	if f.Err != nil {
		return nil, f.Err
	}
	for i := range out {
		out[i].Time = when
	}
	return out, nil
}

// OrderBook implements exchange.Connector with the public partial books
// (20 or 100 levels); the full book needs an API key.
func (c *Connector) OrderBook(ctx context.Context, symbol market.Symbol, depth int) (market.OrderBook, error) {
	id, err := c.marketID(symbol)
	if err != nil {
		return market.OrderBook{}, err
	}
	depth = min(max(depth, 0), maxDepth)
	ep, weight := "level2_100", 4
	if depth > 0 && depth <= 20 {
		ep, weight = "level2_20", 2
	}
	body, err := c.get(ctx, ep, "/api/v1/market/orderbook/"+ep, url.Values{"symbol": {id}}, weight)
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

// ParseOrderBook parses GET /api/v1/market/orderbook/level2_{20,100}.
func ParseOrderBook(body []byte) (market.OrderBook, error) {
	d, err := data(body)
	if err != nil {
		return market.OrderBook{}, err
	}
	var raw struct {
		Time     wire.Text      `json:"time"`
		Sequence wire.Text      `json:"sequence"`
		Bids     [][2]wire.Text `json:"bids"`
		Asks     [][2]wire.Text `json:"asks"`
	}
	if err := json.Unmarshal(d, &raw); err != nil {
		return market.OrderBook{}, err
	}
	var f wire.Fields
	b := market.OrderBook{Exchange: ID, Time: f.Millis("time", raw.Time), Nonce: f.Int("sequence", raw.Sequence)}
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

var intervals = map[market.Timeframe]string{
	market.TF1m: "1min", market.TF5m: "5min", market.TF15m: "15min",
	market.TF1h: "1hour", market.TF4h: "4hour", market.TF1d: "1day",
}

// OHLCV implements exchange.Connector. KuCoin takes startAt/endAt in
// seconds; as CCXT, a since with a limit asks for exactly that span.
func (c *Connector) OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	const ep = "candles"
	typ, ok := intervals[tf]
	if !ok {
		return nil, fmt.Errorf("%w: kucoin timeframe %q", exchange.ErrUnsupported, tf)
	}
	id, err := c.marketID(symbol)
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
		start := since.Unix()
		q.Set("startAt", strconv.FormatInt(start, 10))
		q.Set("endAt", strconv.FormatInt(start+int64(n)*int64(tf.Duration()/time.Second), 10))
	}
	body, err := c.get(ctx, ep, "/api/v1/market/candles", q, 3)
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

// ParseOHLCV parses GET /api/v1/market/candles rows [time s, open, CLOSE,
// HIGH, LOW, volume, turnover], newest first; it returns them oldest first.
func ParseOHLCV(body []byte) ([]market.Candle, error) {
	d, err := data(body)
	if err != nil {
		return nil, err
	}
	var rows [][]wire.Text
	if err := json.Unmarshal(d, &rows); err != nil {
		return nil, err
	}
	out := make([]market.Candle, 0, len(rows))
	for i, r := range rows {
		if len(r) < 6 {
			return nil, fmt.Errorf("candle %d: %d values, want 7", i, len(r))
		}
		var f wire.Fields
		sec := f.Int("time", r[0])
		c := market.Candle{
			Exchange: ID, Time: time.Unix(sec, 0).UTC(),
			Open: f.Req("open", r[1]), Close: f.Req("close", r[2]), High: f.Req("high", r[3]),
			Low: f.Req("low", r[4]), Volume: f.Req("volume", r[5]),
		}
		if f.Err == nil && sec <= 0 {
			f.Err = errors.New("time missing")
		}
		if f.Err != nil {
			return nil, fmt.Errorf("candle %d: %w", i, f.Err)
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b market.Candle) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// Trades implements exchange.Connector with the latest 100 trades; a since
// filters them (KuCoin has no public trade history).
func (c *Connector) Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error) {
	const ep = "histories"
	id, err := c.marketID(symbol)
	if err != nil {
		return nil, err
	}
	body, err := c.get(ctx, ep, "/api/v1/market/histories", url.Values{"symbol": {id}}, 3)
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

// ParseTrades parses GET /api/v1/market/histories. The trade's id is its
// sequence (KuCoin sends no trade id here); time is in nanoseconds.
func ParseTrades(body []byte) ([]market.Trade, error) {
	d, err := data(body)
	if err != nil {
		return nil, err
	}
	var raws []struct {
		Sequence wire.Text `json:"sequence"`
		Price    wire.Text `json:"price"`
		Size     wire.Text `json:"size"`
		Side     string    `json:"side"`
		Time     wire.Text `json:"time"`
	}
	if err := json.Unmarshal(d, &raws); err != nil {
		return nil, err
	}
	out := make([]market.Trade, 0, len(raws))
	for i, r := range raws {
		var f wire.Fields
		ns := f.Int("time", r.Time)
		t := market.Trade{
			Exchange: ID, ID: string(r.Sequence), Time: time.Unix(0, ns).UTC(),
			Side: market.Side(r.Side), Price: f.Req("price", r.Price), Amount: f.Req("size", r.Size),
		}
		if t.Side != market.SideBuy && t.Side != market.SideSell {
			t.Side = market.SideUnknown
		}
		if f.Err == nil && (t.ID == "" || ns <= 0) {
			f.Err = errors.New("sequence or time missing")
		}
		if f.Err != nil {
			return nil, fmt.Errorf("trade %d: %w", i, f.Err)
		}
		out = append(out, t)
	}
	slices.SortStableFunc(out, func(a, b market.Trade) int { return a.Time.Compare(b.Time) })
	return out, nil
}
