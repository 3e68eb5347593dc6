package kraken

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
)

// currencies are CCXT's Kraken renames (over market.CommonCurrency).
var currencies = wire.Currencies{
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
	return currencies.Unified(a)
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

// pairEntry picks the pair's entry out of the result object, which also
// holds "last" (a cursor).
func pairEntry(body []byte) (json.RawMessage, error) {
	res, err := result(body)
	if err != nil {
		return nil, err
	}
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

// ParseOrderBook parses GET /0/public/Depth. Levels are [price, volume,
// time]; the book itself has no time (CCXT leaves it undefined too).
func ParseOrderBook(body []byte) (market.OrderBook, error) {
	entry, err := pairEntry(body)
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
	b := market.OrderBook{Exchange: ID}
	if err := wire.Sides(&b, "volume", raw.Bids, raw.Asks, 0); err != nil {
		return market.OrderBook{}, err
	}
	return b, nil
}

// ohlc are GET /0/public/OHLC rows [time s, o, h, l, c, vwap, volume,
// count], oldest first.
var ohlc = wire.CandleLayout{Unit: time.Second, Open: 1, High: 2, Low: 3, Close: 4, Volume: 6}

// ParseOHLCV parses GET /0/public/OHLC.
func ParseOHLCV(body []byte) ([]market.Candle, error) {
	entry, err := pairEntry(body)
	if err != nil {
		return nil, err
	}
	rows, err := wire.TextRows(entry)
	if err != nil {
		return nil, err
	}
	return ohlc.Parse(ID, rows)
}

// ParseTrades parses GET /0/public/Trades rows [price, volume, time (s,
// fractional), "b"/"s", "m"/"l", misc, trade_id].
func ParseTrades(body []byte) ([]market.Trade, error) {
	entry, err := pairEntry(body)
	if err != nil {
		return nil, err
	}
	var rows [][]json.RawMessage
	if err := json.Unmarshal(entry, &rows); err != nil {
		return nil, err
	}
	return wire.TradeRows(rows, false, trade)
}

// trade reads one row of Trades, whose values are of mixed types.
func trade(r []json.RawMessage) (market.Trade, error) {
	if len(r) < 7 {
		return market.Trade{}, fmt.Errorf("%d values, want 7: %w", len(r), wire.ErrShape)
	}
	var price, vol, at, id wire.Text
	var side string
	for _, x := range []struct {
		dst any
		src json.RawMessage
	}{{&price, r[0]}, {&vol, r[1]}, {&at, r[2]}, {&side, r[3]}, {&id, r[6]}} {
		if err := json.Unmarshal(x.src, x.dst); err != nil {
			return market.Trade{}, err
		}
	}
	var f wire.Fields
	t := market.Trade{Exchange: ID, ID: f.ID("trade_id", id), Price: f.Req("price", price), Amount: f.Req("volume", vol)}
	switch side {
	case "b":
		t.Side = market.SideBuy
	case "s":
		t.Side = market.SideSell
	}
	if f.Err != nil {
		return t, f.Err
	}
	var err error
	t.Time, err = fractionalSeconds(string(at))
	return t, err
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
