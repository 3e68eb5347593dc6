package okx

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
)

// envelope is OKX's wrapper around every response.
type envelope[T any] struct {
	Code wire.Text `json:"code"`
	Msg  string    `json:"msg"`
	Data []T       `json:"data"`
}

func decodeEnvelope[T any](body []byte) ([]T, error) {
	var env envelope[T]
	if err := wire.Decode(body, &env); err != nil {
		return nil, err
	}
	if env.Code != "0" {
		return nil, fmt.Errorf("code %q (%s): %w", env.Code, env.Msg, wire.ErrShape)
	}
	return env.Data, nil
}

// renames are OKX's currency codes that CCXT unifies differently.
var renames = map[string]string{"AE": "AET"}

func currency(code string) string {
	if u, ok := renames[strings.ToUpper(code)]; ok {
		return u
	}
	return market.CommonCurrency(code)
}

// exchangeCurrency undoes renames for deriving ids from unified symbols.
func exchangeCurrency(code string) string {
	for k, v := range renames {
		if v == code {
			return k
		}
	}
	return code
}

// deriveID builds OKX's spot instId, BASE-QUOTE.
func deriveID(s market.Symbol) string {
	return exchangeCurrency(s.Base()) + "-" + exchangeCurrency(s.Quote())
}

// deriveSymbol maps a spot instId to the unified symbol.
func deriveSymbol(id string) (market.Symbol, bool) {
	base, quote, ok := strings.Cut(id, "-")
	if !ok || base == "" || quote == "" || strings.Contains(quote, "-") {
		return "", false
	}
	return market.NewSymbol(currency(base), currency(quote)), true
}

type instrument struct {
	InstType wire.Text `json:"instType"`
	InstID   wire.Text `json:"instId"`
	BaseCcy  wire.Text `json:"baseCcy"`
	QuoteCcy wire.Text `json:"quoteCcy"`
	State    wire.Text `json:"state"`
}

// parseMarkets reads /api/v5/public/instruments?instType=SPOT.
func parseMarkets(body []byte) ([]market.Market, error) {
	rows, err := decodeEnvelope[instrument](body)
	if err != nil {
		return nil, err
	}
	out := make([]market.Market, 0, len(rows))
	for i, r := range rows {
		if r.InstType != "" && r.InstType != "SPOT" {
			continue
		}
		baseID, quoteID := string(r.BaseCcy), string(r.QuoteCcy)
		if baseID == "" || quoteID == "" { // pre-open markets may lack them
			baseID, quoteID, _ = strings.Cut(string(r.InstID), "-")
		}
		if r.InstID == "" || baseID == "" || quoteID == "" {
			return nil, fmt.Errorf("instrument %d: instId/baseCcy/quoteCcy: %w", i, wire.ErrMissing)
		}
		base, quote := currency(baseID), currency(quoteID)
		sym, err := market.ParseSymbol(base + "/" + quote)
		if err != nil {
			return nil, fmt.Errorf("instrument %d: %w", i, err)
		}
		out = append(out, market.Market{
			Exchange: ID, ID: string(r.InstID), Symbol: sym,
			Base: base, Quote: quote, BaseID: baseID, QuoteID: quoteID,
			Active: r.State == "live", Type: "spot",
		})
	}
	return out, nil
}

type tickerRow struct {
	InstType wire.Text `json:"instType"`
	InstID   wire.Text `json:"instId"`
	Last     wire.Text `json:"last"`
	AskPx    wire.Text `json:"askPx"`
	AskSz    wire.Text `json:"askSz"`
	BidPx    wire.Text `json:"bidPx"`
	BidSz    wire.Text `json:"bidSz"`
	Open24h  wire.Text `json:"open24h"`
	High24h  wire.Text `json:"high24h"`
	Low24h   wire.Text `json:"low24h"`
	VolCcy   wire.Text `json:"volCcy24h"`
	Vol      wire.Text `json:"vol24h"`
	TS       wire.Text `json:"ts"`
}

// parseTickers reads /market/ticker and /market/tickers, row by row (see
// wire.Walk). symbolOf maps an instId to the unified symbol; rows it
// cannot map (and non-spot rows) are skipped, since the all-tickers list
// grows with every new listing; an instId listed twice fails the answer.
func parseTickers(body []byte, symbolOf func(string) (market.Symbol, bool)) ([]market.Ticker, error) {
	var code wire.Text
	var msg string
	var out []market.Ticker
	seen := wire.Seen{}
	err := wire.Walk(body, map[string]wire.Handler{
		"code": wire.Into(&code),
		"msg":  wire.Into(&msg),
		"data": func(d *json.Decoder) error {
			return wire.Each(d, func(i int, r *tickerRow) error {
				if r.InstType != "" && r.InstType != "SPOT" {
					return nil
				}
				sym, ok := symbolOf(string(r.InstID))
				if !ok {
					return nil
				}
				if err := seen.Add(string(r.InstID)); err != nil {
					return err
				}
				t, err := parseTicker(*r)
				if err != nil {
					return fmt.Errorf("ticker %d (%s): %w", i, r.InstID, err)
				}
				t.Symbol = sym
				out = append(out, t)
				return nil
			})
		},
	})
	if err != nil {
		return nil, err
	}
	if code != "0" {
		return nil, fmt.Errorf("code %q (%s): %w", code, msg, wire.ErrShape)
	}
	return out, nil
}

func parseTicker(r tickerRow) (market.Ticker, error) {
	t := market.Ticker{Exchange: ID, ExchangeSymbol: string(r.InstID)}
	var err error
	if r.TS != "" {
		if t.Time, err = wire.Millis("ts", r.TS); err != nil {
			return t, err
		}
	}
	fields := []struct {
		name string
		src  wire.Text
		dst  *market.Decimal
	}{
		{"last", r.Last, &t.Last}, {"askPx", r.AskPx, &t.Ask}, {"askSz", r.AskSz, &t.AskVolume},
		{"bidPx", r.BidPx, &t.Bid}, {"bidSz", r.BidSz, &t.BidVolume}, {"open24h", r.Open24h, &t.Open},
		{"high24h", r.High24h, &t.High}, {"low24h", r.Low24h, &t.Low},
		{"vol24h", r.Vol, &t.BaseVolume}, {"volCcy24h", r.VolCcy, &t.QuoteVolume},
	}
	for _, f := range fields {
		if *f.dst, err = wire.OptDecimal(f.name, f.src); err != nil {
			return t, err
		}
	}
	t.Last, t.Bid, t.Ask = wire.NonZero(t.Last), wire.NonZero(t.Bid), wire.NonZero(t.Ask)
	t.Open, t.High, t.Low = wire.NonZero(t.Open), wire.NonZero(t.High), wire.NonZero(t.Low)
	t.Close = t.Last
	return t, nil
}

type bookRow struct {
	Asks [][]wire.Text `json:"asks"`
	Bids [][]wire.Text `json:"bids"`
	TS   wire.Text     `json:"ts"`
}

// parseOrderBook reads /market/books; levels are [price, size, "0", orders].
func parseOrderBook(body []byte, depth int) (market.OrderBook, error) {
	var b market.OrderBook
	rows, err := decodeEnvelope[bookRow](body)
	if err != nil {
		return b, err
	}
	if len(rows) != 1 {
		return b, fmt.Errorf("want one book, got %d: %w", len(rows), wire.ErrShape)
	}
	r := rows[0]
	if b.Time, err = wire.Millis("ts", r.TS); err != nil {
		return b, err
	}
	if b.Bids, err = wire.Levels("bids", "size", r.Bids, depth); err != nil {
		return b, err
	}
	if b.Asks, err = wire.Levels("asks", "size", r.Asks, depth); err != nil {
		return b, err
	}
	return b, nil
}

// parseCandles reads /market/candles and /market/history-candles rows
// [ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm], newest first, and
// returns them oldest first. vol is in base currency for spot, as CCXT takes
// it. Unconfirmed (current) candles are kept: Candle.ClosedAt tells them apart.
func parseCandles(body []byte) ([]market.Candle, error) {
	rows, err := decodeEnvelope[[]wire.Text](body)
	if err != nil {
		return nil, err
	}
	out := make([]market.Candle, 0, len(rows))
	for i, r := range rows {
		if len(r) < 6 {
			return nil, fmt.Errorf("candle %d: want at least 6 values, got %d: %w", i, len(r), wire.ErrShape)
		}
		c := market.Candle{Exchange: ID}
		if c.Time, err = wire.Millis(fmt.Sprintf("candle %d ts", i), r[0]); err != nil {
			return nil, err
		}
		for j, dst := range []*market.Decimal{&c.Open, &c.High, &c.Low, &c.Close, &c.Volume} {
			if *dst, err = wire.ReqDecimal(fmt.Sprintf("candle %d [%d]", i, j+1), r[j+1]); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	slices.Reverse(out)
	sortCandles(out)
	return out, nil
}

func sortCandles(cs []market.Candle) {
	slices.SortStableFunc(cs, func(a, b market.Candle) int { return a.Time.Compare(b.Time) })
}

type tradeRow struct {
	InstID  wire.Text `json:"instId"`
	TradeID wire.Text `json:"tradeId"`
	Px      wire.Text `json:"px"`
	Sz      wire.Text `json:"sz"`
	Side    wire.Text `json:"side"`
	TS      wire.Text `json:"ts"`
}

// parseTrades reads /market/trades and /market/history-trades (newest
// first) and returns trades oldest first.
func parseTrades(body []byte) ([]market.Trade, error) {
	rows, err := decodeEnvelope[tradeRow](body)
	if err != nil {
		return nil, err
	}
	out := make([]market.Trade, 0, len(rows))
	for i, r := range rows {
		t := market.Trade{Exchange: ID, ExchangeSymbol: string(r.InstID), ID: string(r.TradeID)}
		if t.ID == "" {
			return nil, fmt.Errorf("trade %d: tradeId: %w", i, wire.ErrMissing)
		}
		if t.Time, err = wire.Millis(fmt.Sprintf("trade %d ts", i), r.TS); err != nil {
			return nil, err
		}
		if t.Price, err = wire.ReqDecimal("px", r.Px); err != nil {
			return nil, fmt.Errorf("trade %d: %w", i, err)
		}
		if t.Amount, err = wire.ReqDecimal("sz", r.Sz); err != nil {
			return nil, fmt.Errorf("trade %d: %w", i, err)
		}
		switch r.Side {
		case "buy":
			t.Side = market.SideBuy
		case "sell":
			t.Side = market.SideSell
		default:
			return nil, fmt.Errorf("trade %d: side %q: %w", i, r.Side, wire.ErrShape)
		}
		out = append(out, t)
	}
	slices.Reverse(out) // newest first on the wire; keep ties in trade order
	slices.SortStableFunc(out, func(a, b market.Trade) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// since filters candles at or after t (zero: all).
func candlesSince(cs []market.Candle, t time.Time) []market.Candle {
	if t.IsZero() {
		return cs
	}
	i := 0
	for i < len(cs) && cs[i].Time.Before(t) {
		i++
	}
	return cs[i:]
}

func decodeError(endpoint string, body []byte, err error) error {
	return &exchange.DecodeError{Exchange: ID, Endpoint: endpoint, Payload: body, Err: err}
}
