package bitstamp

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
)

// renames are Bitstamp's codes that CCXT unifies differently.
var renames = map[string]string{"UST": "USTC"}

func currency(code string) string {
	if u, ok := renames[strings.ToUpper(code)]; ok {
		return u
	}
	return market.CommonCurrency(code)
}

func exchangeCurrency(code string) string {
	for k, v := range renames {
		if v == code {
			return k
		}
	}
	return code
}

// deriveID builds Bitstamp's pair id, lower-case basequote (btcusd).
func deriveID(s market.Symbol) string {
	return strings.ToLower(exchangeCurrency(s.Base()) + exchangeCurrency(s.Quote()))
}

// pairSymbol maps the "BTC/USD" pair names of the all-tickers list.
func pairSymbol(pair string) (market.Symbol, bool) {
	base, quote, ok := strings.Cut(pair, "/")
	if !ok || base == "" || quote == "" || strings.ContainsAny(quote, "/:-") {
		return "", false
	}
	return market.NewSymbol(currency(base), currency(quote)), true
}

// seconds parses a Unix time in seconds.
func seconds(field string, s wire.Text) (time.Time, error) {
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, fmt.Errorf("%s: invalid seconds %q: %w", field, s, wire.ErrShape)
	}
	return time.Unix(n, 0).UTC(), nil
}

// parseMarkets reads /api/v2/markets/ and keeps the SPOT markets.
func parseMarkets(body []byte) ([]market.Market, error) {
	var rows []struct {
		MarketSymbol wire.Text `json:"market_symbol"`
		Base         wire.Text `json:"base_currency"`
		Counter      wire.Text `json:"counter_currency"`
		Trading      wire.Text `json:"trading"`
		MarketType   wire.Text `json:"market_type"`
	}
	if err := wire.Decode(body, &rows); err != nil {
		return nil, err
	}
	out := make([]market.Market, 0, len(rows))
	for i, r := range rows {
		if r.MarketType != "" && r.MarketType != "SPOT" {
			continue
		}
		if r.MarketSymbol == "" || r.Base == "" || r.Counter == "" {
			return nil, fmt.Errorf("market %d: market_symbol/base_currency/counter_currency: %w", i, wire.ErrMissing)
		}
		base, quote := currency(string(r.Base)), currency(string(r.Counter))
		sym, err := market.ParseSymbol(base + "/" + quote)
		if err != nil {
			return nil, fmt.Errorf("market %d: %w", i, err)
		}
		out = append(out, market.Market{
			Exchange: ID, ID: string(r.MarketSymbol), Symbol: sym,
			Base: base, Quote: quote, BaseID: string(r.Base), QuoteID: string(r.Counter),
			Active: r.Trading == "Enabled", Type: "spot",
		})
	}
	return out, nil
}

type tickerRow struct {
	Pair      wire.Text `json:"pair"`
	Timestamp wire.Text `json:"timestamp"`
	Open      wire.Text `json:"open"`
	High      wire.Text `json:"high"`
	Low       wire.Text `json:"low"`
	Last      wire.Text `json:"last"`
	Volume    wire.Text `json:"volume"`
	VWAP      wire.Text `json:"vwap"`
	Bid       wire.Text `json:"bid"`
	Ask       wire.Text `json:"ask"`
}

func parseTickerRow(r tickerRow) (market.Ticker, error) {
	t := market.Ticker{Exchange: ID}
	var err error
	if r.Timestamp != "" {
		if t.Time, err = seconds("timestamp", r.Timestamp); err != nil {
			return t, err
		}
	}
	for _, f := range []struct {
		name string
		src  wire.Text
		dst  *market.Decimal
	}{
		{"open", r.Open, &t.Open}, {"high", r.High, &t.High}, {"low", r.Low, &t.Low},
		{"last", r.Last, &t.Last}, {"volume", r.Volume, &t.BaseVolume}, {"vwap", r.VWAP, &t.VWAP},
		{"bid", r.Bid, &t.Bid}, {"ask", r.Ask, &t.Ask},
	} {
		if *f.dst, err = wire.OptDecimal(f.name, f.src); err != nil {
			return t, err
		}
	}
	// Bitstamp sends no quote volume; CCXT's is volume × vwap, exact here.
	t.QuoteVolume = t.BaseVolume.Mul(t.VWAP)
	t.Last, t.Bid, t.Ask = wire.NonZero(t.Last), wire.NonZero(t.Bid), wire.NonZero(t.Ask)
	t.Open, t.High, t.Low = wire.NonZero(t.Open), wire.NonZero(t.High), wire.NonZero(t.Low)
	t.Close = t.Last
	return t, nil
}

// parseTicker reads /api/v2/ticker/{pair}/, one object.
func parseTicker(body []byte) (market.Ticker, error) {
	var r tickerRow
	if err := wire.Decode(body, &r); err != nil {
		return market.Ticker{}, err
	}
	return parseTickerRow(r)
}

// parseTickers reads /api/v2/ticker/, an array whose rows name their pair
// ("BTC/USD"), row by row (see wire.Walk); keep reports whether a symbol
// is wanted, and a wanted pair listed twice fails the answer.
func parseTickers(body []byte, keep func(market.Symbol) bool) ([]market.Ticker, error) {
	var out []market.Ticker
	seen := wire.Seen{}
	err := wire.Walk(body, map[string]wire.Handler{"": func(d *json.Decoder) error {
		return wire.Each(d, func(i int, r *tickerRow) error {
			sym, ok := pairSymbol(string(r.Pair))
			if !ok || !keep(sym) {
				return nil
			}
			if err := seen.Add(string(r.Pair)); err != nil {
				return err
			}
			t, err := parseTickerRow(*r)
			if err != nil {
				return fmt.Errorf("ticker %d (%s): %w", i, r.Pair, err)
			}
			t.Symbol = sym
			out = append(out, t)
			return nil
		})
	}})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parseOrderBook reads /api/v2/order_book/{pair}/: microtimestamp (µs) is
// the snapshot's time and, as in CCXT, its nonce.
func parseOrderBook(body []byte, depth int) (market.OrderBook, error) {
	var b market.OrderBook
	var r struct {
		Micro wire.Text     `json:"microtimestamp"`
		Bids  [][]wire.Text `json:"bids"`
		Asks  [][]wire.Text `json:"asks"`
	}
	if err := wire.Decode(body, &r); err != nil {
		return b, err
	}
	us, err := strconv.ParseInt(string(r.Micro), 10, 64)
	if err != nil || us <= 0 {
		return b, fmt.Errorf("microtimestamp %q: %w", r.Micro, wire.ErrShape)
	}
	b.Time, b.Nonce = time.UnixMicro(us).UTC(), us
	if b.Bids, err = wire.Levels("bids", "amount", r.Bids, depth); err != nil {
		return b, err
	}
	if b.Asks, err = wire.Levels("asks", "amount", r.Asks, depth); err != nil {
		return b, err
	}
	return b, nil
}

// parseCandles reads /api/v2/ohlc/{pair}/: {data: {pair, ohlc: [{timestamp
// (s), open, high, low, close, volume}]}}, oldest first.
func parseCandles(body []byte) ([]market.Candle, error) {
	var r struct {
		Data *struct {
			OHLC []struct {
				Timestamp wire.Text `json:"timestamp"`
				Open      wire.Text `json:"open"`
				High      wire.Text `json:"high"`
				Low       wire.Text `json:"low"`
				Close     wire.Text `json:"close"`
				Volume    wire.Text `json:"volume"`
			} `json:"ohlc"`
		} `json:"data"`
	}
	if err := wire.Decode(body, &r); err != nil {
		return nil, err
	}
	if r.Data == nil {
		return nil, fmt.Errorf("data: %w", wire.ErrMissing)
	}
	out := make([]market.Candle, 0, len(r.Data.OHLC))
	for i, row := range r.Data.OHLC {
		c := market.Candle{Exchange: ID}
		var err error
		if c.Time, err = seconds(fmt.Sprintf("candle %d timestamp", i), row.Timestamp); err != nil {
			return nil, err
		}
		for _, f := range []struct {
			name string
			src  wire.Text
			dst  *market.Decimal
		}{{"open", row.Open, &c.Open}, {"high", row.High, &c.High}, {"low", row.Low, &c.Low}, {"close", row.Close, &c.Close}, {"volume", row.Volume, &c.Volume}} {
			if *f.dst, err = wire.ReqDecimal(fmt.Sprintf("candle %d %s", i, f.name), f.src); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b market.Candle) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// parseTrades reads /api/v2/transactions/{pair}/ (newest first): date in
// seconds, type "0" buy, "1" sell. Returns them oldest first.
func parseTrades(body []byte) ([]market.Trade, error) {
	var rows []struct {
		Date   wire.Text `json:"date"`
		TID    wire.Text `json:"tid"`
		Price  wire.Text `json:"price"`
		Amount wire.Text `json:"amount"`
		Type   wire.Text `json:"type"`
	}
	if err := wire.Decode(body, &rows); err != nil {
		return nil, err
	}
	out := make([]market.Trade, 0, len(rows))
	for i, r := range rows {
		t := market.Trade{Exchange: ID, ID: string(r.TID)}
		if t.ID == "" {
			return nil, fmt.Errorf("trade %d: tid: %w", i, wire.ErrMissing)
		}
		var err error
		if t.Time, err = seconds(fmt.Sprintf("trade %d date", i), r.Date); err != nil {
			return nil, err
		}
		if t.Price, err = wire.ReqDecimal("price", r.Price); err != nil {
			return nil, fmt.Errorf("trade %d: %w", i, err)
		}
		if t.Amount, err = wire.ReqDecimal("amount", r.Amount); err != nil {
			return nil, fmt.Errorf("trade %d: %w", i, err)
		}
		switch r.Type {
		case "0":
			t.Side = market.SideBuy
		case "1":
			t.Side = market.SideSell
		default:
			return nil, fmt.Errorf("trade %d: type %q: %w", i, r.Type, wire.ErrShape)
		}
		out = append(out, t)
	}
	slices.Reverse(out)
	slices.SortStableFunc(out, func(a, b market.Trade) int { return a.Time.Compare(b.Time) })
	return out, nil
}

func decodeError(endpoint string, body []byte, err error) error {
	return &exchange.DecodeError{Exchange: ID, Endpoint: endpoint, Payload: body, Err: err}
}
