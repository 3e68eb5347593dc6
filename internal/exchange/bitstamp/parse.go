package bitstamp

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
)

// currencies are Bitstamp's codes that CCXT unifies differently.
var currencies = wire.Currencies{"UST": "USTC"}

// deriveID builds Bitstamp's pair id, lower-case basequote (btcusd).
func deriveID(s market.Symbol) string {
	return strings.ToLower(currencies.Native(s.Base()) + currencies.Native(s.Quote()))
}

// pairSymbol maps the "BTC/USD" pair names of the all-tickers list.
func pairSymbol(pair string) (market.Symbol, bool) {
	base, quote, ok := strings.Cut(pair, "/")
	if !ok || base == "" || quote == "" || strings.ContainsAny(quote, "/:-") {
		return "", false
	}
	return market.NewSymbol(currencies.Unified(base), currencies.Unified(quote)), true
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
		m, err := wire.SpotMarket(ID, string(r.MarketSymbol), string(r.Base), string(r.Counter), currencies, r.Trading == "Enabled")
		if err != nil {
			return nil, fmt.Errorf("market %d: %w", i, err)
		}
		out = append(out, m)
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

func (r *tickerRow) ticker(sym market.Symbol) (market.Ticker, error) {
	var f wire.Fields
	t := market.Ticker{Exchange: ID, Symbol: sym}
	if r.Timestamp != "" {
		t.Time = f.Time("timestamp", r.Timestamp, time.Second)
	}
	t.Open, t.High, t.Low = f.Dec("open", r.Open), f.Dec("high", r.High), f.Dec("low", r.Low)
	t.Last, t.BaseVolume, t.VWAP = f.Dec("last", r.Last), f.Dec("volume", r.Volume), f.Dec("vwap", r.VWAP)
	t.Bid, t.Ask = f.Dec("bid", r.Bid), f.Dec("ask", r.Ask)
	if f.Err != nil {
		return t, f.Err
	}
	// Bitstamp sends no quote volume; CCXT's is volume × vwap, exact here.
	t.QuoteVolume = t.BaseVolume.Mul(t.VWAP)
	wire.SafeTicker(&t)
	return t, nil
}

// parseTicker reads /api/v2/ticker/{pair}/, one object.
func parseTicker(body []byte) (market.Ticker, error) {
	var r tickerRow
	if err := wire.Decode(body, &r); err != nil {
		return market.Ticker{}, err
	}
	return r.ticker("")
}

// parseTickers reads /api/v2/ticker/, an array whose rows name their pair
// ("BTC/USD"), row by row (see wire.Walk); keep reports whether a symbol
// is wanted, and a wanted pair listed twice fails the answer.
func parseTickers(body []byte, keep func(market.Symbol) bool) ([]market.Ticker, error) {
	var out []market.Ticker
	resolve := func(pair string) (market.Symbol, bool) {
		sym, ok := pairSymbol(pair)
		return sym, ok && keep(sym)
	}
	rows := wire.TickerRows(&out, func(r *tickerRow) string { return string(r.Pair) }, resolve, (*tickerRow).ticker)
	if err := wire.Walk(body, map[string]wire.Handler{"": func(d *json.Decoder) error { return wire.Each(d, rows) }}); err != nil {
		return nil, err
	}
	return out, nil
}

// parseOrderBook reads /api/v2/order_book/{pair}/: microtimestamp (µs) is
// the snapshot's time and, as in CCXT, its nonce.
func parseOrderBook(body []byte, depth int) (market.OrderBook, error) {
	b := market.OrderBook{Exchange: ID}
	var r struct {
		Micro wire.Text     `json:"microtimestamp"`
		Bids  [][]wire.Text `json:"bids"`
		Asks  [][]wire.Text `json:"asks"`
	}
	if err := wire.Decode(body, &r); err != nil {
		return b, err
	}
	var f wire.Fields
	b.Time, b.Nonce = f.Time("microtimestamp", r.Micro, time.Microsecond), f.Int("microtimestamp", r.Micro)
	if f.Err != nil {
		return b, f.Err
	}
	return b, wire.Sides(&b, "amount", r.Bids, r.Asks, depth)
}

// parseCandles reads /api/v2/ohlc/{pair}/: {data: {pair, ohlc: [{timestamp
// (s), open, high, low, close, volume}]}}, oldest first.
func parseCandles(body []byte) ([]market.Candle, error) {
	type row struct {
		Timestamp wire.Text `json:"timestamp"`
		Open      wire.Text `json:"open"`
		High      wire.Text `json:"high"`
		Low       wire.Text `json:"low"`
		Close     wire.Text `json:"close"`
		Volume    wire.Text `json:"volume"`
	}
	var r struct {
		Data *struct {
			OHLC []row `json:"ohlc"`
		} `json:"data"`
	}
	if err := wire.Decode(body, &r); err != nil {
		return nil, err
	}
	if r.Data == nil {
		return nil, fmt.Errorf("data: %w", wire.ErrMissing)
	}
	return wire.CandleRows(r.Data.OHLC, false, func(r row) (market.Candle, error) {
		var f wire.Fields
		c := market.Candle{
			Exchange: ID, Time: f.Time("timestamp", r.Timestamp, time.Second),
			Open: f.Req("open", r.Open), High: f.Req("high", r.High), Low: f.Req("low", r.Low),
			Close: f.Req("close", r.Close), Volume: f.Req("volume", r.Volume),
		}
		return c, f.Err
	})
}

type transaction struct {
	Date   wire.Text `json:"date"`
	TID    wire.Text `json:"tid"`
	Price  wire.Text `json:"price"`
	Amount wire.Text `json:"amount"`
	Type   wire.Text `json:"type"`
}

// parseTrades reads /api/v2/transactions/{pair}/ (newest first) and
// returns them oldest first.
func parseTrades(body []byte) ([]market.Trade, error) {
	var rows []transaction
	if err := wire.Decode(body, &rows); err != nil {
		return nil, err
	}
	return wire.TradeRows(rows, true, transaction.trade)
}

// trade reads one transaction: date in seconds, type "0" buy, "1" sell.
func (r transaction) trade() (market.Trade, error) {
	var f wire.Fields
	t := market.Trade{
		Exchange: ID, ID: f.ID("tid", r.TID), Time: f.Time("date", r.Date, time.Second),
		Price: f.Req("price", r.Price), Amount: f.Req("amount", r.Amount), Side: f.Side("type", r.Type, "0", "1"),
	}
	return t, f.Err
}
