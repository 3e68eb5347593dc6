// Package kraken is the connector for Kraken spot (api.kraken.com).
package kraken

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

// commonCurrencies are CCXT's Kraken renames (over market.CommonCurrency).
var commonCurrencies = map[string]string{
	"XBT": "BTC", "XBT.M": "BTC.M", "XDG": "DOGE", "LUNA": "LUNC", "LUNA2": "LUNA",
	"REPV2": "REP", "REP": "REPV1", "UST": "USTC", "FEE": "KFEE",
}

// currency maps a Kraken asset name to CCXT's code. Legacy asset ids carry
// an X (crypto) or Z (fiat) prefix: XXBT, ZUSD.
func currency(asset string) string {
	a := strings.ToUpper(asset)
	if len(a) == 4 && (a[0] == 'X' || a[0] == 'Z') && !strings.Contains(a, ".") && a != "ZEUS" {
		a = a[1:]
	}
	if u, ok := commonCurrencies[a]; ok {
		return u
	}
	return market.CommonCurrency(a)
}

// Connector fetches Kraken spot market data. Kraken's pair ids cannot be
// derived from symbols (XXBTZUSD, XBTUSDT), so every call loads AssetPairs
// first, once.
type Connector struct {
	r      exchange.Requester
	index  exchange.MarketIndex
	loadMu sync.Mutex
	// altnames maps Kraken's alternative pair names (XBTUSD) to markets:
	// responses are keyed by the name used in the request.
	altMu    sync.RWMutex
	altnames map[string]market.Market
}

// New returns a connector that sends its requests through r.
func New(r exchange.Requester) *Connector { return &Connector{r: r} }

// ID implements exchange.Connector.
func (c *Connector) ID() string { return ID }

// Capabilities implements exchange.Connector.
func (c *Connector) Capabilities() exchange.Capabilities {
	return exchange.Capabilities{AllTickers: true, HistoricalTrades: true, MaxCandles: maxCandles, MaxTrades: maxTrades, MaxDepth: maxDepth}
}

func (c *Connector) get(ctx context.Context, endpoint, path string, q url.Values) ([]byte, error) {
	return wire.Client{R: c.r, Exchange: ID}.Get(ctx, endpoint, path, q, 1)
}

func decodeError(endpoint string, body []byte, err error) error {
	return &exchange.DecodeError{Exchange: ID, Endpoint: endpoint, Payload: body, Err: err}
}

// envelope is Kraken's {"error": [...], "result": ...}.
type envelope struct {
	Error  []string        `json:"error"`
	Result json.RawMessage `json:"result"`
}

func result(body []byte) (json.RawMessage, error) {
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, err
	}
	if len(e.Result) == 0 || string(e.Result) == "null" {
		return nil, errors.New("no result")
	}
	return e.Result, nil
}

// Markets implements exchange.Connector and refreshes the symbol index.
func (c *Connector) Markets(ctx context.Context) ([]market.Market, error) {
	const ep = "AssetPairs"
	body, err := c.get(ctx, ep, "/0/public/AssetPairs", nil)
	if err != nil {
		return nil, err
	}
	ms, alt, err := parseMarkets(body)
	if err != nil {
		return nil, decodeError(ep, body, err)
	}
	c.index.Set(ms)
	c.altMu.Lock()
	c.altnames = alt
	c.altMu.Unlock()
	return ms, nil
}

// ParseMarkets parses GET /0/public/AssetPairs.
func ParseMarkets(body []byte) ([]market.Market, error) {
	ms, _, err := parseMarkets(body)
	return ms, err
}

func parseMarkets(body []byte) ([]market.Market, map[string]market.Market, error) {
	res, err := result(body)
	if err != nil {
		return nil, nil, err
	}
	var pairs map[string]struct {
		Altname string `json:"altname"`
		WSName  string `json:"wsname"`
		Base    string `json:"base"`
		Quote   string `json:"quote"`
		Status  string `json:"status"`
	}
	if err := json.Unmarshal(res, &pairs); err != nil {
		return nil, nil, err
	}
	ids := make([]string, 0, len(pairs))
	for id := range pairs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ms := make([]market.Market, 0, len(ids))
	alt := make(map[string]market.Market, len(ids))
	seen := make(map[market.Symbol]bool, len(ids))
	for _, id := range ids {
		p := pairs[id]
		if strings.HasSuffix(id, ".d") || strings.HasSuffix(p.Altname, ".d") {
			continue // dark pool: no public book or trades
		}
		if p.Base == "" || p.Quote == "" {
			return nil, nil, fmt.Errorf("pair %q: missing base or quote", id)
		}
		base, quote := currency(p.Base), currency(p.Quote)
		// wsname carries the short names (XBT/USD) where the ids are legacy.
		if b, q, ok := strings.Cut(p.WSName, "/"); ok && b != "" && q != "" {
			base, quote = currency(b), currency(q)
		}
		sym, err := market.ParseSymbol(base + "/" + quote)
		if err != nil {
			return nil, nil, fmt.Errorf("pair %q: %w", id, err)
		}
		if seen[sym] {
			continue
		}
		seen[sym] = true
		m := market.Market{
			Exchange: ID, ID: id, Symbol: sym, Base: sym.Base(), Quote: sym.Quote(),
			BaseID: p.Base, QuoteID: p.Quote, Active: p.Status == "" || p.Status == "online", Type: "spot",
		}
		ms = append(ms, m)
		if p.Altname != "" {
			alt[p.Altname] = m
		}
	}
	return ms, alt, nil
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

func (c *Connector) market(ctx context.Context, s market.Symbol) (market.Market, error) {
	if err := c.ensureMarkets(ctx); err != nil {
		return market.Market{}, err
	}
	m, ok := c.index.BySymbol(s)
	if !ok {
		return market.Market{}, fmt.Errorf("%w: kraken %s", exchange.ErrUnknownSymbol, s)
	}
	return m, nil
}

// byKey resolves a result key: the pair id, or its altname.
func (c *Connector) byKey(key string) (market.Market, bool) {
	if m, ok := c.index.ByID(key); ok {
		return m, true
	}
	c.altMu.RLock()
	defer c.altMu.RUnlock()
	m, ok := c.altnames[key]
	return m, ok
}

// Tickers implements exchange.Connector: Ticker without pair returns every pair.
func (c *Connector) Tickers(ctx context.Context, symbols []market.Symbol) ([]market.Ticker, error) {
	const ep = "Ticker"
	if err := c.ensureMarkets(ctx); err != nil {
		return nil, err
	}
	q := url.Values{}
	want := map[market.Symbol]bool{}
	if len(symbols) > 0 {
		ids := make([]string, 0, len(symbols))
		for _, s := range symbols {
			m, err := c.market(ctx, s)
			if err != nil {
				return nil, err
			}
			ids = append(ids, m.ID)
			want[s] = true
		}
		q.Set("pair", strings.Join(ids, ","))
	}
	body, err := c.get(ctx, ep, "/0/public/Ticker", q)
	if err != nil {
		return nil, err
	}
	ts, err := ParseTickers(body, c.byKey)
	if err != nil {
		return nil, decodeError(ep, body, err)
	}
	if len(want) > 0 {
		ts = slices.DeleteFunc(ts, func(t market.Ticker) bool { return !want[t.Symbol] })
	}
	return ts, nil
}

// ParseTickers parses GET /0/public/Ticker, entry by entry (see
// wire.EachRaw): only the entries asked for are decoded;
// resolve maps result keys to markets, unknown keys are skipped, a key
// listed twice fails the answer. Kraken sends no ticker time.
func ParseTickers(body []byte, resolve func(key string) (market.Market, bool)) ([]market.Ticker, error) {
	type raw struct {
		A []wire.Text `json:"a"` // ask [price, whole lot volume, lot volume]
		B []wire.Text `json:"b"` // bid
		C []wire.Text `json:"c"` // last trade [price, lot volume]
		V []wire.Text `json:"v"` // volume [today, last 24h]
		P []wire.Text `json:"p"` // vwap [today, last 24h]
		L []wire.Text `json:"l"`
		H []wire.Text `json:"h"`
		O wire.Text   `json:"o"`
	}
	at := func(xs []wire.Text, i int) wire.Text {
		if i < len(xs) {
			return xs[i]
		}
		return ""
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("invalid JSON: %w", wire.ErrShape)
	}
	off, found, err := wire.ValueAt(body, "result")
	switch {
	case err != nil:
		return nil, err
	case !found || bytes.HasPrefix(body[off:], []byte("null")):
		return nil, errors.New("no result")
	}
	var out []market.Ticker
	seen := wire.Seen{}
	_, err = wire.EachRaw(body, off, func(k string, b []byte) error {
		m, ok := resolve(k)
		if !ok {
			return nil // not decoded at all
		}
		if err := seen.Add(k); err != nil {
			return err
		}
		var r raw
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("ticker %s: %w", k, err)
		}
		var f wire.Fields
		last := f.Dec("c", at(r.C, 0))
		base, vwap := f.Dec("v", at(r.V, 1)), f.Dec("p", at(r.P, 1))
		t := market.Ticker{
			Exchange: ID, Symbol: m.Symbol, ExchangeSymbol: m.ID,
			Bid: f.Dec("b", at(r.B, 0)), BidVolume: f.Dec("b", at(r.B, 2)),
			Ask: f.Dec("a", at(r.A, 0)), AskVolume: f.Dec("a", at(r.A, 2)),
			Last: last, Close: last, Open: f.Dec("o", r.O),
			High: f.Dec("h", at(r.H, 1)), Low: f.Dec("l", at(r.L, 1)),
			VWAP: vwap, BaseVolume: base,
			QuoteVolume: base.Mul(vwap), // as CCXT: exact 24h volume x 24h vwap
		}
		if f.Err != nil {
			return fmt.Errorf("ticker %s: %w", k, f.Err)
		}
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b market.Ticker) int { return strings.Compare(a.ExchangeSymbol, b.ExchangeSymbol) })
	return out, nil
}

// pairResult picks the pair's entry out of a result object that also holds
// "last" (a cursor).
func pairResult(res json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(res, &m); err != nil {
		return nil, err
	}
	for k, v := range m {
		if k != "last" {
			return v, nil
		}
	}
	return nil, errors.New("result holds no pair")
}

// OrderBook implements exchange.Connector.
func (c *Connector) OrderBook(ctx context.Context, symbol market.Symbol, depth int) (market.OrderBook, error) {
	const ep = "Depth"
	m, err := c.market(ctx, symbol)
	if err != nil {
		return market.OrderBook{}, err
	}
	depth = min(max(depth, 0), maxDepth)
	q := url.Values{"pair": {m.ID}}
	if depth > 0 {
		q.Set("count", strconv.Itoa(depth))
	}
	body, err := c.get(ctx, ep, "/0/public/Depth", q)
	if err != nil {
		return market.OrderBook{}, err
	}
	b, err := ParseOrderBook(body)
	if err != nil {
		return market.OrderBook{}, decodeError(ep, body, err)
	}
	b.Symbol, b.ExchangeSymbol = symbol, m.ID
	if depth > 0 {
		b.Bids, b.Asks = b.Bids[:min(depth, len(b.Bids))], b.Asks[:min(depth, len(b.Asks))]
	}
	return b, nil
}

// ParseOrderBook parses GET /0/public/Depth. Levels are [price, volume,
// time]; the book itself has no time (CCXT leaves it undefined too).
func ParseOrderBook(body []byte) (market.OrderBook, error) {
	res, err := result(body)
	if err != nil {
		return market.OrderBook{}, err
	}
	entry, err := pairResult(res)
	if err != nil {
		return market.OrderBook{}, err
	}
	var raw struct {
		Asks [][]wire.Text `json:"asks"`
		Bids [][]wire.Text `json:"bids"`
	}
	if err := json.Unmarshal(entry, &raw); err != nil {
		return market.OrderBook{}, err
	}
	var f wire.Fields
	b := market.OrderBook{Exchange: ID, Bids: levels(&f, "bids", raw.Bids), Asks: levels(&f, "asks", raw.Asks)}
	if f.Err != nil {
		return market.OrderBook{}, f.Err
	}
	return b, nil
}

func levels(f *wire.Fields, side string, raw [][]wire.Text) []market.Level {
	out := make([]market.Level, 0, len(raw))
	for _, l := range raw {
		if len(l) < 2 {
			if f.Err == nil {
				f.Err = fmt.Errorf("%s: level with %d values", side, len(l))
			}
			return nil
		}
		out = append(out, market.Level{Price: f.Req(side+" price", l[0]), Amount: f.Req(side+" volume", l[1])})
	}
	return out
}

var intervals = map[market.Timeframe]string{
	market.TF1m: "1", market.TF5m: "5", market.TF15m: "15",
	market.TF1h: "60", market.TF4h: "240", market.TF1d: "1440",
}

// OHLCV implements exchange.Connector. Kraken returns up to 720 candles
// after since (in seconds, the candle holding since included); as CCXT, we
// drop candles before since and apply limit here.
func (c *Connector) OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	const ep = "OHLC"
	interval, ok := intervals[tf]
	if !ok {
		return nil, fmt.Errorf("%w: kraken timeframe %q", exchange.ErrUnsupported, tf)
	}
	m, err := c.market(ctx, symbol)
	if err != nil {
		return nil, err
	}
	q := url.Values{"pair": {m.ID}, "interval": {interval}}
	if !since.IsZero() {
		q.Set("since", strconv.FormatInt(since.Unix(), 10))
	}
	body, err := c.get(ctx, ep, "/0/public/OHLC", q)
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
	return wire.Keep(cs, min(limit, maxCandles), since.IsZero()), nil
}

// ParseOHLCV parses GET /0/public/OHLC rows [time s, o, h, l, c, vwap,
// volume, count], oldest first.
func ParseOHLCV(body []byte) ([]market.Candle, error) {
	res, err := result(body)
	if err != nil {
		return nil, err
	}
	entry, err := pairResult(res)
	if err != nil {
		return nil, err
	}
	var rows [][]wire.Text
	if err := json.Unmarshal(entry, &rows); err != nil {
		return nil, err
	}
	out := make([]market.Candle, 0, len(rows))
	for i, r := range rows {
		if len(r) < 7 {
			return nil, fmt.Errorf("candle %d: %d values, want 8", i, len(r))
		}
		var f wire.Fields
		sec := f.Int("time", r[0])
		c := market.Candle{
			Exchange: ID, Time: time.Unix(sec, 0).UTC(),
			Open: f.Req("open", r[1]), High: f.Req("high", r[2]), Low: f.Req("low", r[3]),
			Close: f.Req("close", r[4]), Volume: f.Req("volume", r[6]),
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

// Trades implements exchange.Connector; since pages through history
// (Kraken takes it in seconds).
func (c *Connector) Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error) {
	const ep = "Trades"
	m, err := c.market(ctx, symbol)
	if err != nil {
		return nil, err
	}
	q := url.Values{"pair": {m.ID}}
	if !since.IsZero() {
		q.Set("since", strconv.FormatInt(since.Unix(), 10))
	}
	if limit > 0 {
		q.Set("count", strconv.Itoa(min(limit, maxTrades)))
	}
	body, err := c.get(ctx, ep, "/0/public/Trades", q)
	if err != nil {
		return nil, err
	}
	ts, err := ParseTrades(body)
	if err != nil {
		return nil, decodeError(ep, body, err)
	}
	ts = slices.DeleteFunc(ts, func(t market.Trade) bool { return t.Time.Before(since) })
	for i := range ts {
		ts[i].Symbol, ts[i].ExchangeSymbol = symbol, m.ID
	}
	return wire.Keep(ts, min(limit, maxTrades), since.IsZero()), nil
}

// ParseTrades parses GET /0/public/Trades rows [price, volume, time (s,
// fractional), "b"/"s", "m"/"l", misc, trade_id].
func ParseTrades(body []byte) ([]market.Trade, error) {
	res, err := result(body)
	if err != nil {
		return nil, err
	}
	entry, err := pairResult(res)
	if err != nil {
		return nil, err
	}
	var rows [][]json.RawMessage
	if err := json.Unmarshal(entry, &rows); err != nil {
		return nil, err
	}
	out := make([]market.Trade, 0, len(rows))
	for i, r := range rows {
		if len(r) < 7 {
			return nil, fmt.Errorf("trade %d: %d values, want 7", i, len(r))
		}
		var price, vol, at, id wire.Text
		var side string
		for _, x := range []struct {
			dst any
			src json.RawMessage
		}{{&price, r[0]}, {&vol, r[1]}, {&at, r[2]}, {&side, r[3]}, {&id, r[6]}} {
			if err := json.Unmarshal(x.src, x.dst); err != nil {
				return nil, fmt.Errorf("trade %d: %w", i, err)
			}
		}
		var f wire.Fields
		t := market.Trade{Exchange: ID, ID: string(id), Price: f.Req("price", price), Amount: f.Req("volume", vol)}
		switch side {
		case "b":
			t.Side = market.SideBuy
		case "s":
			t.Side = market.SideSell
		}
		tm, err := fractionalSeconds(string(at))
		if f.Err == nil && err != nil {
			f.Err = err
		}
		t.Time = tm
		if f.Err == nil && t.ID == "" {
			f.Err = errors.New("trade id missing")
		}
		if f.Err != nil {
			return nil, fmt.Errorf("trade %d: %w", i, f.Err)
		}
		out = append(out, t)
	}
	slices.SortStableFunc(out, func(a, b market.Trade) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// fractionalSeconds parses "1710327959.1733468" exactly (no float64), to
// the nanosecond.
func fractionalSeconds(s string) (time.Time, error) {
	secText, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secText, 10, 64)
	if err != nil || sec <= 0 || !digitsOnly(frac) {
		return time.Time{}, fmt.Errorf("bad time %q", s)
	}
	if len(frac) > 9 {
		frac = frac[:9]
	}
	var ns int64
	if frac != "" {
		ns, _ = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	return time.Unix(sec, ns).UTC(), nil
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
