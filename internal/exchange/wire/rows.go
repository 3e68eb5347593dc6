package wire

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// Row parsing: what every connector does to an answer's rows once they
// are decoded into the exchange's own row type.

// Currencies are an exchange's own renames of currency codes, exchange
// code (upper case) to CCXT's, over the ones CCXT applies everywhere
// (market.CommonCurrency).
type Currencies map[string]string

// Unified maps an exchange's currency code to CCXT's.
func (r Currencies) Unified(code string) string {
	if u, ok := r[strings.ToUpper(code)]; ok {
		return u
	}
	return market.CommonCurrency(code)
}

// Native maps a unified code back to the exchange's, for ids derived from
// symbols.
func (r Currencies) Native(code string) string {
	for k, v := range r {
		if v == code {
			return k
		}
	}
	return code
}

// SpotMarket is a spot market of exchange from its id and currency ids,
// the codes renamed as cur says; each must be present and the symbol
// unified (BASE/QUOTE).
func SpotMarket(exchange, id, baseID, quoteID string, cur Currencies, active bool) (market.Market, error) {
	if id == "" || baseID == "" || quoteID == "" {
		return market.Market{}, fmt.Errorf("id %q, base %q or quote %q: %w", id, baseID, quoteID, ErrMissing)
	}
	sym, err := market.ParseSymbol(cur.Unified(baseID) + "/" + cur.Unified(quoteID))
	if err != nil {
		return market.Market{}, err
	}
	return market.Market{
		Exchange: exchange, ID: id, Symbol: sym, Base: sym.Base(), Quote: sym.Quote(),
		BaseID: baseID, QuoteID: quoteID, Active: active, Type: "spot",
	}, nil
}

// Rows converts every row with conv; a failure names the row ("trade 3:
// price: missing field").
func Rows[R, T any](what string, rows []R, conv func(R) (T, error)) ([]T, error) {
	out := make([]T, 0, len(rows))
	for i, r := range rows {
		v, err := conv(r)
		if err != nil {
			return nil, fmt.Errorf("%s %d: %w", what, i, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// TradeRows converts an answer's trade rows (as Rows) and puts them
// oldest first (SortTrades); newestFirst says how the exchange sent them.
func TradeRows[R any](rows []R, newestFirst bool, conv func(R) (market.Trade, error)) ([]market.Trade, error) {
	return sortedRows("trade", rows, conv, func(ts []market.Trade) { SortTrades(ts, newestFirst) })
}

// CandleRows converts an answer's candle rows (as Rows) and puts them
// oldest first (SortCandles).
func CandleRows[R any](rows []R, newestFirst bool, conv func(R) (market.Candle, error)) ([]market.Candle, error) {
	return sortedRows("candle", rows, conv, func(cs []market.Candle) { SortCandles(cs, newestFirst) })
}

func sortedRows[R, T any](what string, rows []R, conv func(R) (T, error), sort func([]T)) ([]T, error) {
	out, err := Rows(what, rows, conv)
	if err != nil {
		return nil, err
	}
	sort(out)
	return out, nil
}

// UnixTime parses a Unix time in unit (time.Second, Millisecond,
// Microsecond or Nanosecond) that must be present and after 1970.
func UnixTime(field string, s Text, unit time.Duration) (time.Time, error) {
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, fmt.Errorf("%s: invalid %s %q: %w", field, unitNames[unit], s, ErrShape)
	}
	switch unit {
	case time.Second:
		return time.Unix(n, 0).UTC(), nil
	case time.Millisecond:
		return time.UnixMilli(n).UTC(), nil
	case time.Microsecond:
		return time.UnixMicro(n).UTC(), nil
	}
	return time.Unix(0, n).UTC(), nil
}

var unitNames = map[time.Duration]string{
	time.Second: "seconds", time.Millisecond: "milliseconds", time.Microsecond: "microseconds", time.Nanosecond: "nanoseconds",
}

// Millis parses a Unix time in milliseconds that must be present.
func Millis(field string, s Text) (time.Time, error) { return UnixTime(field, s, time.Millisecond) }

// ID reads a text that must be present, such as a trade id.
func (f *Fields) ID(name string, s Text) string {
	if f.Err == nil && s == "" {
		f.Err = fmt.Errorf("%s: %w", name, ErrMissing)
	}
	return string(s)
}

// Time parses a Unix time in unit that must be present.
func (f *Fields) Time(name string, s Text, unit time.Duration) time.Time {
	if f.Err != nil {
		return time.Time{}
	}
	t, err := UnixTime(name, s, unit)
	f.Err = err
	return t
}

// Side reads a taker side that must be one of the exchange's two words
// for buy and sell.
func (f *Fields) Side(name string, s, buy, sell Text) market.Side {
	switch {
	case f.Err != nil:
	case s == buy:
		return market.SideBuy
	case s == sell:
		return market.SideSell
	default:
		f.Err = fmt.Errorf("%s %q: %w", name, s, ErrShape)
	}
	return market.SideUnknown
}

// CandleLayout is where an exchange's candle rows [time, values...] keep
// each value: the time's unit and the indexes of open, high, low, close
// and volume.
type CandleLayout struct {
	Unit                           time.Duration
	Open, High, Low, Close, Volume int
	NewestFirst                    bool // the rows come newest first
}

// Parse reads the rows as candles of exchange, oldest first.
func (l CandleLayout) Parse(exchange string, rows [][]Text) ([]market.Candle, error) {
	width := max(l.Open, l.High, l.Low, l.Close, l.Volume) + 1
	cs, err := Rows("candle", rows, func(r []Text) (market.Candle, error) {
		if len(r) < width {
			return market.Candle{}, fmt.Errorf("want at least %d values, got %d: %w", width, len(r), ErrShape)
		}
		var f Fields
		c := market.Candle{
			Exchange: exchange, Time: f.Time("time", r[0], l.Unit),
			Open: f.Req("open", r[l.Open]), High: f.Req("high", r[l.High]), Low: f.Req("low", r[l.Low]),
			Close: f.Req("close", r[l.Close]), Volume: f.Req("volume", r[l.Volume]),
		}
		return c, f.Err
	})
	if err != nil {
		return nil, err
	}
	SortCandles(cs, l.NewestFirst)
	return cs, nil
}

// SortCandles puts candles oldest first. newestFirst says the exchange
// sent them the other way: candles of one instant then keep its order
// reversed too, as one reversal and a stable sort give.
func SortCandles(cs []market.Candle, newestFirst bool) {
	if newestFirst {
		slices.Reverse(cs)
	}
	slices.SortStableFunc(cs, func(a, b market.Candle) int { return a.Time.Compare(b.Time) })
}

// SortTrades puts trades oldest first, as SortCandles does candles.
func SortTrades(ts []market.Trade, newestFirst bool) {
	if newestFirst {
		slices.Reverse(ts)
	}
	slices.SortStableFunc(ts, func(a, b market.Trade) int { return a.Time.Compare(b.Time) })
}

// AnswerTime sets every ticker's time to the answer's own, in
// milliseconds, for exchanges whose ticker rows carry none; absent, the
// tickers stay without.
func AnswerTime(ts []market.Ticker, field string, ms Text) ([]market.Ticker, error) {
	if ms == "" {
		return ts, nil
	}
	when, err := Millis(field, ms)
	if err != nil {
		return nil, err
	}
	for i := range ts {
		ts[i].Time = when
	}
	return ts, nil
}

// SafeTicker applies CCXT's safeTicker to prices: a zero last, bid, ask,
// open, high or low means none; the close is the last price.
func SafeTicker(t *market.Ticker) {
	t.Last, t.Bid, t.Ask = NonZero(t.Last), NonZero(t.Bid), NonZero(t.Ask)
	t.Open, t.High, t.Low = NonZero(t.Open), NonZero(t.High), NonZero(t.Low)
	t.Close = t.Last
}

// TickerRows is the row function (for Each) of an answer listing many
// tickers: rows whose key resolve does not know are skipped (the lists
// grow with every listing), a key met twice fails the answer, and the
// others become tickers appended to out.
func TickerRows[R any](out *[]market.Ticker, key func(*R) string, resolve func(string) (market.Symbol, bool), ticker func(*R, market.Symbol) (market.Ticker, error)) func(int, *R) error {
	seen := Seen{}
	return func(_ int, r *R) error {
		k := key(r)
		sym, ok := resolve(k)
		if !ok {
			return nil
		}
		if err := seen.Add(k); err != nil {
			return err
		}
		t, err := ticker(r, sym)
		if err != nil {
			return fmt.Errorf("ticker %s: %w", k, err)
		}
		*out = append(*out, t)
		return nil
	}
}

// Sides parses both sides of an order book from rows [price, amount, ...],
// each cut to depth first (<= 0: all), as Levels does.
func Sides(b *market.OrderBook, amount string, bids, asks [][]Text, depth int) error {
	var err error
	if b.Bids, err = Levels("bids", amount, bids, depth); err != nil {
		return err
	}
	b.Asks, err = Levels("asks", amount, asks, depth)
	return err
}
