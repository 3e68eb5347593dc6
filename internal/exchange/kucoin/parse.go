package kucoin

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
)

// currencies are CCXT's KuCoin renames (a subset: those that are valid
// unified codes) over market.CommonCurrency.
var currencies = wire.Currencies{"BIFI": "BIFIF", "VAI": "VAIOT", "WAX": "WAXP"}

// deriveID is KuCoin's id of a symbol before the markets are loaded:
// BASE-QUOTE, KuCoin's naming for every spot pair.
func deriveID(s market.Symbol) string { return s.Base() + "-" + s.Quote() }

// deriveSymbol splits an id BASE-QUOTE.
func deriveSymbol(id string) (market.Symbol, bool) {
	base, quote, ok := strings.Cut(id, "-")
	if !ok {
		return "", false
	}
	s, err := market.ParseSymbol(currencies.Unified(base) + "/" + currencies.Unified(quote))
	return s, err == nil
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
		m, err := wire.SpotMarket(ID, r.Symbol, r.BaseCurrency, r.QuoteCurrency, currencies, r.EnableTrading)
		if err != nil {
			return nil, fmt.Errorf("symbol %q: %w", r.Symbol, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
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
	hasData := false
	rows := wire.TickerRows(&out, func(r *rawTicker) string { return r.Symbol }, resolve, func(r *rawTicker, sym market.Symbol) (market.Ticker, error) {
		t, err := r.ticker(time.Time{})
		t.Symbol = sym
		return t, err
	})
	err := wire.Walk(body, map[string]wire.Handler{
		"code":      wire.Into(&code),
		"data.time": func(d *json.Decoder) error { hasData = true; return d.Decode(&at) },
		"data.ticker": func(d *json.Decoder) error {
			hasData = true
			return wire.Each(d, rows)
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
	return wire.AnswerTime(out, "time", at)
}

// ParseOrderBook parses GET /api/v1/market/orderbook/level2_{20,100}.
func ParseOrderBook(body []byte) (market.OrderBook, error) {
	d, err := data(body)
	if err != nil {
		return market.OrderBook{}, err
	}
	var raw struct {
		Time     wire.Text     `json:"time"`
		Sequence wire.Text     `json:"sequence"`
		Bids     [][]wire.Text `json:"bids"`
		Asks     [][]wire.Text `json:"asks"`
	}
	if err := json.Unmarshal(d, &raw); err != nil {
		return market.OrderBook{}, err
	}
	var f wire.Fields
	b := market.OrderBook{Exchange: ID, Time: f.Millis("time", raw.Time), Nonce: f.Int("sequence", raw.Sequence)}
	if f.Err != nil {
		return market.OrderBook{}, f.Err
	}
	if err := wire.Sides(&b, "size", raw.Bids, raw.Asks, 0); err != nil {
		return market.OrderBook{}, err
	}
	return b, nil
}

// candles are GET /api/v1/market/candles rows [time s, open, CLOSE, HIGH,
// LOW, volume, turnover], newest first.
var candles = wire.CandleLayout{Unit: time.Second, Open: 1, Close: 2, High: 3, Low: 4, Volume: 5, NewestFirst: true}

// ParseOHLCV parses GET /api/v1/market/candles; it returns them oldest
// first.
func ParseOHLCV(body []byte) ([]market.Candle, error) {
	d, err := data(body)
	if err != nil {
		return nil, err
	}
	rows, err := wire.TextRows(d)
	if err != nil {
		return nil, err
	}
	return candles.Parse(ID, rows)
}

type tradeRow struct {
	Sequence wire.Text `json:"sequence"`
	Price    wire.Text `json:"price"`
	Size     wire.Text `json:"size"`
	Side     string    `json:"side"`
	Time     wire.Text `json:"time"`
}

// ParseTrades parses GET /api/v1/market/histories, oldest first.
func ParseTrades(body []byte) ([]market.Trade, error) {
	d, err := data(body)
	if err != nil {
		return nil, err
	}
	var rows []tradeRow
	if err := json.Unmarshal(d, &rows); err != nil {
		return nil, err
	}
	return wire.TradeRows(rows, false, tradeRow.trade)
}

// trade reads one trade. Its id is its sequence (KuCoin sends no trade id
// here); time is in nanoseconds.
func (r tradeRow) trade() (market.Trade, error) {
	var f wire.Fields
	t := market.Trade{
		Exchange: ID, ID: f.ID("sequence", r.Sequence), Time: f.Time("time", r.Time, time.Nanosecond),
		Side: market.Side(r.Side), Price: f.Req("price", r.Price), Amount: f.Req("size", r.Size),
	}
	if t.Side != market.SideBuy && t.Side != market.SideSell {
		t.Side = market.SideUnknown
	}
	return t, f.Err
}
