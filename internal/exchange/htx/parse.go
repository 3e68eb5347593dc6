package htx

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
)

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

// deriveID is HTX's id of a symbol before the markets are loaded:
// lower-case base+quote, HTX's naming for spot pairs.
func deriveID(s market.Symbol) string { return strings.ToLower(s.Base() + s.Quote()) }

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
		m, err := wire.SpotMarket(ID, r.Symbol, r.Base, r.Quote, nil, r.State == "online")
		if err != nil {
			return nil, fmt.Errorf("symbol %q: %w", r.Symbol, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
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

type tickerRow struct {
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

func (r *tickerRow) ticker(sym market.Symbol) (market.Ticker, error) {
	var f wire.Fields
	t := ticker(&f, "", r.Open, r.Close, r.Low, r.High, r.Amount, r.Vol, r.Bid, r.BidSize, r.Ask, r.AskSize)
	t.Symbol, t.ExchangeSymbol = sym, r.Symbol
	return t, f.Err
}

// ParseTickers parses GET /market/tickers, row by row (see wire.Walk);
// resolve maps ids to symbols, unknown ids are skipped, an id listed twice
// fails the answer. The time is the snapshot's.
func ParseTickers(body []byte, resolve func(id string) (market.Symbol, bool)) ([]market.Ticker, error) {
	var status string
	var ts wire.Text
	var out []market.Ticker
	rows := wire.TickerRows(&out, func(r *tickerRow) string { return r.Symbol }, resolve, (*tickerRow).ticker)
	err := wire.Walk(body, map[string]wire.Handler{
		"status": wire.Into(&status),
		"ts":     wire.Into(&ts),
		"data":   func(d *json.Decoder) error { return wire.Each(d, rows) },
	})
	switch {
	case err != nil:
		return nil, err
	case status != "ok":
		return nil, fmt.Errorf("status %q", status)
	case len(out) == 0:
		return out, nil
	}
	return wire.AnswerTime(out, "ts", ts)
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
		TS      wire.Text     `json:"ts"`
		Version wire.Text     `json:"version"`
		Bids    [][]wire.Text `json:"bids"`
		Asks    [][]wire.Text `json:"asks"`
	}
	if err := json.Unmarshal(e.Tick, &raw); err != nil {
		return market.OrderBook{}, err
	}
	var f wire.Fields
	ts := cmp.Or(raw.TS, e.TS)
	b := market.OrderBook{Exchange: ID, Time: f.Millis("ts", ts), Nonce: f.Int("version", raw.Version)}
	if f.Err != nil {
		return market.OrderBook{}, f.Err
	}
	if err := wire.Sides(&b, "size", raw.Bids, raw.Asks, 0); err != nil {
		return market.OrderBook{}, err
	}
	return b, nil
}

type candleRow struct {
	ID     wire.Text `json:"id"`
	Open   wire.Text `json:"open"`
	Close  wire.Text `json:"close"`
	Low    wire.Text `json:"low"`
	High   wire.Text `json:"high"`
	Amount wire.Text `json:"amount"`
}

// ParseOHLCV parses kline data [{id (open time, s), open, close, low, high,
// amount (base volume), vol (quote volume), count}], newest first; it
// returns them oldest first.
func ParseOHLCV(body []byte) ([]market.Candle, error) {
	e, err := open(body)
	if err != nil {
		return nil, err
	}
	var rows []candleRow
	if err := json.Unmarshal(e.Data, &rows); err != nil {
		return nil, err
	}
	return wire.CandleRows(rows, true, func(r candleRow) (market.Candle, error) {
		var f wire.Fields
		c := market.Candle{
			Exchange: ID, Time: f.Time("id", r.ID, time.Second),
			Open: f.Req("open", r.Open), High: f.Req("high", r.High), Low: f.Req("low", r.Low),
			Close: f.Req("close", r.Close), Volume: f.Req("amount", r.Amount),
		}
		return c, f.Err
	})
}

// ParseTrades parses GET /market/history/trade: groups data[].data[] of
// trades, newest first. It returns them oldest first, ordered by time and
// then trade id, so that trades of one millisecond keep their sequence.
func ParseTrades(body []byte) ([]market.Trade, error) {
	e, err := open(body)
	if err != nil {
		return nil, err
	}
	type row struct {
		TradeID   wire.Text `json:"trade-id"`
		TS        wire.Text `json:"ts"`
		Amount    wire.Text `json:"amount"`
		Price     wire.Text `json:"price"`
		Direction string    `json:"direction"`
	}
	var groups []struct {
		Data []row `json:"data"`
	}
	if err := json.Unmarshal(e.Data, &groups); err != nil {
		return nil, err
	}
	var out []market.Trade
	seq := map[string]int64{}
	for _, g := range groups {
		ts, err := wire.Rows("trade", g.Data, func(r row) (market.Trade, error) {
			var f wire.Fields
			t := market.Trade{
				Exchange: ID, ID: f.ID("trade-id", r.TradeID), Time: f.Time("ts", r.TS, time.Millisecond),
				Price: f.Req("price", r.Price), Amount: f.Req("amount", r.Amount),
			}
			seq[t.ID] = f.Int("trade-id", r.TradeID)
			switch r.Direction {
			case "buy":
				t.Side = market.SideBuy
			case "sell":
				t.Side = market.SideSell
			}
			return t, f.Err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	slices.SortStableFunc(out, func(a, b market.Trade) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(seq[a.ID], seq[b.ID]))
	})
	return out, nil
}
