package okx

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// envelope is OKX's wrapper around every response.
type envelope[T any] struct {
	Code text   `json:"code"`
	Msg  string `json:"msg"`
	Data []T    `json:"data"`
}

func decodeEnvelope[T any](body []byte) ([]T, error) {
	var env envelope[T]
	if err := decodeJSON(body, &env); err != nil {
		return nil, err
	}
	if env.Code != "0" {
		return nil, fmt.Errorf("code %q (%s): %w", env.Code, env.Msg, errShape)
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
	InstType text `json:"instType"`
	InstID   text `json:"instId"`
	BaseCcy  text `json:"baseCcy"`
	QuoteCcy text `json:"quoteCcy"`
	State    text `json:"state"`
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
			return nil, fmt.Errorf("instrument %d: instId/baseCcy/quoteCcy: %w", i, errMissing)
		}
		base, quote := currency(baseID), currency(quoteID)
		out = append(out, market.Market{
			Exchange: ID, ID: string(r.InstID), Symbol: market.NewSymbol(base, quote),
			Base: base, Quote: quote, BaseID: baseID, QuoteID: quoteID,
			Active: r.State == "live", Type: "spot",
		})
	}
	return out, nil
}

type tickerRow struct {
	InstType text `json:"instType"`
	InstID   text `json:"instId"`
	Last     text `json:"last"`
	AskPx    text `json:"askPx"`
	AskSz    text `json:"askSz"`
	BidPx    text `json:"bidPx"`
	BidSz    text `json:"bidSz"`
	Open24h  text `json:"open24h"`
	High24h  text `json:"high24h"`
	Low24h   text `json:"low24h"`
	VolCcy   text `json:"volCcy24h"`
	Vol      text `json:"vol24h"`
	TS       text `json:"ts"`
}

// parseTickers reads /market/ticker and /market/tickers. symbolOf maps an
// instId to the unified symbol; rows it cannot map (and non-spot rows) are
// skipped, since the all-tickers list grows with every new listing.
func parseTickers(body []byte, symbolOf func(string) (market.Symbol, bool)) ([]market.Ticker, error) {
	rows, err := decodeEnvelope[tickerRow](body)
	if err != nil {
		return nil, err
	}
	out := make([]market.Ticker, 0, len(rows))
	for i, r := range rows {
		if r.InstType != "" && r.InstType != "SPOT" {
			continue
		}
		sym, ok := symbolOf(string(r.InstID))
		if !ok {
			continue
		}
		t, err := parseTicker(r)
		if err != nil {
			return nil, fmt.Errorf("ticker %d (%s): %w", i, r.InstID, err)
		}
		t.Symbol = sym
		out = append(out, t)
	}
	return out, nil
}

func parseTicker(r tickerRow) (market.Ticker, error) {
	t := market.Ticker{Exchange: ID, ExchangeSymbol: string(r.InstID)}
	var err error
	if r.TS != "" {
		if t.Time, err = millis("ts", r.TS); err != nil {
			return t, err
		}
	}
	fields := []struct {
		name string
		src  text
		dst  *market.Decimal
	}{
		{"last", r.Last, &t.Last}, {"askPx", r.AskPx, &t.Ask}, {"askSz", r.AskSz, &t.AskVolume},
		{"bidPx", r.BidPx, &t.Bid}, {"bidSz", r.BidSz, &t.BidVolume}, {"open24h", r.Open24h, &t.Open},
		{"high24h", r.High24h, &t.High}, {"low24h", r.Low24h, &t.Low},
		{"vol24h", r.Vol, &t.BaseVolume}, {"volCcy24h", r.VolCcy, &t.QuoteVolume},
	}
	for _, f := range fields {
		if *f.dst, err = optDecimal(f.name, f.src); err != nil {
			return t, err
		}
	}
	t.Last, t.Bid, t.Ask = nonZero(t.Last), nonZero(t.Bid), nonZero(t.Ask)
	t.Open, t.High, t.Low = nonZero(t.Open), nonZero(t.High), nonZero(t.Low)
	t.Close = t.Last
	return t, nil
}

type bookRow struct {
	Asks [][]text `json:"asks"`
	Bids [][]text `json:"bids"`
	TS   text     `json:"ts"`
}

// parseOrderBook reads /market/books; levels are [price, size, "0", orders].
func parseOrderBook(body []byte, depth int) (market.OrderBook, error) {
	var b market.OrderBook
	rows, err := decodeEnvelope[bookRow](body)
	if err != nil {
		return b, err
	}
	if len(rows) != 1 {
		return b, fmt.Errorf("want one book, got %d: %w", len(rows), errShape)
	}
	r := rows[0]
	if b.Time, err = millis("ts", r.TS); err != nil {
		return b, err
	}
	if b.Bids, err = parseLevels("bids", r.Bids, depth); err != nil {
		return b, err
	}
	if b.Asks, err = parseLevels("asks", r.Asks, depth); err != nil {
		return b, err
	}
	return b, nil
}

func parseLevels(side string, rows [][]text, depth int) ([]market.Level, error) {
	if depth > 0 && len(rows) > depth {
		rows = rows[:depth]
	}
	out := make([]market.Level, 0, len(rows))
	for i, r := range rows {
		if len(r) < 2 {
			return nil, fmt.Errorf("%s[%d]: want [price, size, ...]: %w", side, i, errShape)
		}
		p, err := reqDecimal(fmt.Sprintf("%s[%d].price", side, i), r[0])
		if err != nil {
			return nil, err
		}
		a, err := reqDecimal(fmt.Sprintf("%s[%d].size", side, i), r[1])
		if err != nil {
			return nil, err
		}
		out = append(out, market.Level{Price: p, Amount: a})
	}
	return out, nil
}

// parseCandles reads /market/candles and /market/history-candles rows
// [ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm], newest first, and
// returns them oldest first. vol is in base currency for spot, as CCXT takes
// it. Unconfirmed (current) candles are kept: Candle.ClosedAt tells them apart.
func parseCandles(body []byte) ([]market.Candle, error) {
	rows, err := decodeEnvelope[[]text](body)
	if err != nil {
		return nil, err
	}
	out := make([]market.Candle, 0, len(rows))
	for i, r := range rows {
		if len(r) < 6 {
			return nil, fmt.Errorf("candle %d: want at least 6 values, got %d: %w", i, len(r), errShape)
		}
		c := market.Candle{Exchange: ID}
		if c.Time, err = millis(fmt.Sprintf("candle %d ts", i), r[0]); err != nil {
			return nil, err
		}
		for j, dst := range []*market.Decimal{&c.Open, &c.High, &c.Low, &c.Close, &c.Volume} {
			if *dst, err = reqDecimal(fmt.Sprintf("candle %d [%d]", i, j+1), r[j+1]); err != nil {
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
	InstID  text `json:"instId"`
	TradeID text `json:"tradeId"`
	Px      text `json:"px"`
	Sz      text `json:"sz"`
	Side    text `json:"side"`
	TS      text `json:"ts"`
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
			return nil, fmt.Errorf("trade %d: tradeId: %w", i, errMissing)
		}
		if t.Time, err = millis(fmt.Sprintf("trade %d ts", i), r.TS); err != nil {
			return nil, err
		}
		if t.Price, err = reqDecimal("px", r.Px); err != nil {
			return nil, fmt.Errorf("trade %d: %w", i, err)
		}
		if t.Amount, err = reqDecimal("sz", r.Sz); err != nil {
			return nil, fmt.Errorf("trade %d: %w", i, err)
		}
		switch r.Side {
		case "buy":
			t.Side = market.SideBuy
		case "sell":
			t.Side = market.SideSell
		default:
			return nil, fmt.Errorf("trade %d: side %q: %w", i, r.Side, errShape)
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
