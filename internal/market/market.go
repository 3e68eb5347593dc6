// Package market holds the normalised market-data types every other package
// speaks: markets, tickers, order books, candles and trades, with exact
// decimals, UTC times and unified BASE/QUOTE symbols. Their JSON encoding is
// CCXT's unified structure, so `mdingest fetch` output reads like CCXT's.
package market

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DataType names a kind of market data; it is also the data_type column of
// the ops tables and the kind in Redis keys.
type DataType string

// The data types.
const (
	TypeMarkets   DataType = "markets"
	TypeTicker    DataType = "ticker"
	TypeOrderBook DataType = "orderbook"
	TypeOHLCV     DataType = "ohlcv"
	TypeTrades    DataType = "trades"
)

// ParseDataType accepts the names of SPEC's `fetch --kind`.
func ParseDataType(s string) (DataType, error) {
	switch t := DataType(s); t {
	case TypeMarkets, TypeTicker, TypeOrderBook, TypeOHLCV, TypeTrades:
		return t, nil
	}
	return "", fmt.Errorf("unknown data type %q (want markets, ticker, orderbook, ohlcv or trades)", s)
}

// Symbol is a unified spot symbol, "BASE/QUOTE" as CCXT writes it.
type Symbol string

// ErrInvalidSymbol is returned for symbols not shaped BASE/QUOTE.
var ErrInvalidSymbol = errors.New("invalid symbol")

// ParseSymbol validates a unified symbol and upper-cases it.
func ParseSymbol(s string) (Symbol, error) {
	base, quote, ok := strings.Cut(strings.ToUpper(strings.TrimSpace(s)), "/")
	if !ok || base == "" || quote == "" || strings.ContainsAny(base+quote, "/: ") {
		return "", fmt.Errorf("%w %q: want BASE/QUOTE, e.g. BTC/USDT", ErrInvalidSymbol, s)
	}
	return Symbol(base + "/" + quote), nil
}

// NewSymbol joins base and quote.
func NewSymbol(base, quote string) Symbol { return Symbol(base + "/" + quote) }

// Base returns the part before the slash.
func (s Symbol) Base() string { b, _, _ := strings.Cut(string(s), "/"); return b }

// Quote returns the part after the slash.
func (s Symbol) Quote() string { _, q, _ := strings.Cut(string(s), "/"); return q }

// commonCurrencies are the renames CCXT applies on every exchange.
var commonCurrencies = map[string]string{"XBT": "BTC", "BCC": "BCH", "BCHSV": "BSV"}

// CommonCurrency maps an exchange's currency code to CCXT's unified code
// using the renames CCXT applies everywhere; exchanges add their own.
func CommonCurrency(code string) string {
	code = strings.ToUpper(code)
	if u, ok := commonCurrencies[code]; ok {
		return u
	}
	return code
}

// Timeframe is a candle period in CCXT's notation.
type Timeframe string

// The supported timeframes.
const (
	TF1m  Timeframe = "1m"
	TF5m  Timeframe = "5m"
	TF15m Timeframe = "15m"
	TF1h  Timeframe = "1h"
	TF4h  Timeframe = "4h"
	TF1d  Timeframe = "1d"
)

// Timeframes lists the supported timeframes, shortest first.
func Timeframes() []Timeframe { return []Timeframe{TF1m, TF5m, TF15m, TF1h, TF4h, TF1d} }

// ParseTimeframe validates a timeframe.
func ParseTimeframe(s string) (Timeframe, error) {
	if Timeframe(s).Duration() == 0 {
		return "", fmt.Errorf("unknown timeframe %q (want 1m, 5m, 15m, 1h, 4h or 1d)", s)
	}
	return Timeframe(s), nil
}

// Duration is the length of one candle, 0 for an unknown timeframe. A
// switch rather than a map: it runs several times for every candle
// checked and loaded.
func (tf Timeframe) Duration() time.Duration {
	switch tf {
	case TF1m:
		return time.Minute
	case TF5m:
		return 5 * time.Minute
	case TF15m:
		return 15 * time.Minute
	case TF1h:
		return time.Hour
	case TF4h:
		return 4 * time.Hour
	case TF1d:
		return 24 * time.Hour
	}
	return 0
}

// Market is one tradable spot pair of an exchange.
type Market struct {
	Exchange string `json:"-"`
	ID       string `json:"id"`     // the exchange's own symbol, e.g. BTCUSDT, XXBTZUSD
	Symbol   Symbol `json:"symbol"` // unified, e.g. BTC/USDT
	Base     string `json:"base"`
	Quote    string `json:"quote"`
	BaseID   string `json:"baseId,omitempty"`
	QuoteID  string `json:"quoteId,omitempty"`
	Active   bool   `json:"active"`
	Type     string `json:"type,omitempty"` // "spot"
}

// Level is one order-book price level.
type Level struct {
	Price  Decimal
	Amount Decimal
}

// MarshalJSON writes CCXT's [price, amount] pair.
func (l Level) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]Decimal{l.Price, l.Amount})
}

// UnmarshalJSON reads a [price, amount] pair.
func (l *Level) UnmarshalJSON(b []byte) error {
	var p [2]Decimal
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	l.Price, l.Amount = p[0], p[1]
	return nil
}

// Ticker is a 24h rolling summary with the top of book.
type Ticker struct {
	Exchange       string    `json:"-"`
	Symbol         Symbol    `json:"symbol"`
	ExchangeSymbol string    `json:"-"`
	Time           time.Time `json:"-"` // zero when the exchange sends none
	Bid            Decimal   `json:"bid"`
	BidVolume      Decimal   `json:"bidVolume"`
	Ask            Decimal   `json:"ask"`
	AskVolume      Decimal   `json:"askVolume"`
	Last           Decimal   `json:"last"`
	Open           Decimal   `json:"open"`
	High           Decimal   `json:"high"`
	Low            Decimal   `json:"low"`
	Close          Decimal   `json:"close"`
	VWAP           Decimal   `json:"vwap"`
	BaseVolume     Decimal   `json:"baseVolume"`
	QuoteVolume    Decimal   `json:"quoteVolume"`
}

// OrderBook is a depth snapshot, bids best (highest) first, asks best
// (lowest) first.
type OrderBook struct {
	Exchange       string    `json:"-"`
	Symbol         Symbol    `json:"symbol"`
	ExchangeSymbol string    `json:"-"`
	Time           time.Time `json:"-"` // zero when the exchange sends none
	Nonce          int64     `json:"nonce,omitempty"`
	Bids           []Level   `json:"bids"`
	Asks           []Level   `json:"asks"`
}

// Candle is one OHLCV bar; Time is the open time.
type Candle struct {
	Exchange  string
	Symbol    Symbol
	Timeframe Timeframe
	Time      time.Time
	Open      Decimal
	High      Decimal
	Low       Decimal
	Close     Decimal
	Volume    Decimal
	// Closed says the period had ended when the candle was fetched, so its
	// values are final. An open candle (the last one an exchange returns)
	// is still changing and a later fetch replaces it.
	Closed bool
}

// End is when the candle's period ends.
func (c Candle) End() time.Time { return c.Time.Add(c.Timeframe.Duration()) }

// ClosedAt reports whether the candle's period had ended at t: before that
// its values still change.
func (c Candle) ClosedAt(t time.Time) bool { return !c.End().After(t) }

// MarshalJSON writes CCXT's [timestamp, open, high, low, close, volume].
func (c Candle) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{c.Time.UnixMilli(), c.Open, c.High, c.Low, c.Close, c.Volume})
}

// Side is a trade's taker side.
type Side string

// Trade sides; SideUnknown where the exchange does not say.
const (
	SideBuy     Side = "buy"
	SideSell    Side = "sell"
	SideUnknown Side = ""
)

// Trade is one public trade.
type Trade struct {
	Exchange       string    `json:"-"`
	Symbol         Symbol    `json:"symbol"`
	ExchangeSymbol string    `json:"-"`
	ID             string    `json:"id"`
	Time           time.Time `json:"-"`
	Side           Side      `json:"side"`
	Price          Decimal   `json:"price"`
	Amount         Decimal   `json:"amount"`
}

// Cost is price*amount, as CCXT computes it.
func (t Trade) Cost() Decimal { return t.Price.Mul(t.Amount) }

// ccxtTime renders CCXT's timestamp (ms) and datetime (ISO 8601) pair.
func ccxtTime(t time.Time) (any, any) {
	if t.IsZero() {
		return nil, nil
	}
	return t.UnixMilli(), t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// MarshalJSON adds CCXT's timestamp and datetime.
func (t Ticker) MarshalJSON() ([]byte, error) {
	type plain Ticker
	ts, dt := ccxtTime(t.Time)
	return json.Marshal(struct {
		plain
		Timestamp any `json:"timestamp"`
		Datetime  any `json:"datetime"`
	}{plain(t), ts, dt})
}

// MarshalJSON adds CCXT's timestamp and datetime.
func (b OrderBook) MarshalJSON() ([]byte, error) {
	type plain OrderBook
	ts, dt := ccxtTime(b.Time)
	if b.Bids == nil {
		b.Bids = []Level{}
	}
	if b.Asks == nil {
		b.Asks = []Level{}
	}
	return json.Marshal(struct {
		plain
		Timestamp any `json:"timestamp"`
		Datetime  any `json:"datetime"`
	}{plain(b), ts, dt})
}

// MarshalJSON adds CCXT's timestamp, datetime and cost; an unknown side is null.
func (t Trade) MarshalJSON() ([]byte, error) {
	type plain Trade
	ts, dt := ccxtTime(t.Time)
	var side any
	if t.Side != SideUnknown {
		side = t.Side
	}
	return json.Marshal(struct {
		plain
		Side      any     `json:"side"`
		Timestamp any     `json:"timestamp"`
		Datetime  any     `json:"datetime"`
		Cost      Decimal `json:"cost"`
	}{plain(t), side, ts, dt, t.Cost()})
}
