package binance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
)

// currencies are Binance's own renames (CCXT keeps BCC as BCC here, YOYO
// is YOYOW) over the common ones.
var currencies = wire.Currencies{"BCC": "BCC", "YOYO": "YOYOW"}

// deriveID is Binance's id of a symbol before the markets are loaded:
// BASE+QUOTE, how Binance names every spot pair.
func deriveID(s market.Symbol) string {
	if s.Base() == "" || s.Quote() == "" {
		return ""
	}
	return s.Base() + s.Quote()
}

// ParseMarkets parses GET /api/v3/exchangeInfo.
func ParseMarkets(body []byte) ([]market.Market, error) {
	var info struct {
		Symbols []struct {
			Symbol     string `json:"symbol"`
			Status     string `json:"status"`
			BaseAsset  string `json:"baseAsset"`
			QuoteAsset string `json:"quoteAsset"`
		} `json:"symbols"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, err
	}
	ms := make([]market.Market, 0, len(info.Symbols))
	for _, s := range info.Symbols {
		if s.Symbol == "" || s.BaseAsset == "" || s.QuoteAsset == "" {
			return nil, fmt.Errorf("symbol %q: missing id, base or quote", s.Symbol)
		}
		base, quote := currencies.Unified(s.BaseAsset), currencies.Unified(s.QuoteAsset)
		ms = append(ms, market.Market{
			Exchange: ID, ID: s.Symbol, Symbol: market.NewSymbol(base, quote),
			Base: base, Quote: quote, BaseID: s.BaseAsset, QuoteID: s.QuoteAsset,
			Active: s.Status == "TRADING", Type: "spot",
		})
	}
	return ms, nil
}

type rawTicker struct {
	Symbol      string    `json:"symbol"`
	BidPrice    wire.Text `json:"bidPrice"`
	BidQty      wire.Text `json:"bidQty"`
	AskPrice    wire.Text `json:"askPrice"`
	AskQty      wire.Text `json:"askQty"`
	LastPrice   wire.Text `json:"lastPrice"`
	OpenPrice   wire.Text `json:"openPrice"`
	HighPrice   wire.Text `json:"highPrice"`
	LowPrice    wire.Text `json:"lowPrice"`
	WeightedAvg wire.Text `json:"weightedAvgPrice"`
	Volume      wire.Text `json:"volume"`
	QuoteVolume wire.Text `json:"quoteVolume"`
	CloseTime   wire.Text `json:"closeTime"`
}

// ParseTickers parses GET /api/v3/ticker/24hr: one object or an array,
// read row by row (see wire.Walk). resolve maps ids to unified symbols;
// tickers it does not know are skipped (Binance also lists delisted
// pairs), and a symbol listed twice fails the answer.
func ParseTickers(body []byte, resolve func(id string) (market.Symbol, bool)) ([]market.Ticker, error) {
	var out []market.Ticker
	rows := wire.TickerRows(&out, func(r *rawTicker) string { return r.Symbol }, resolve, (*rawTicker).ticker)
	keep := func(i int, r *rawTicker) error {
		if r.Symbol == "" {
			return errors.New("ticker without symbol")
		}
		return rows(i, r)
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '{' {
		var one rawTicker
		if err := wire.Decode(body, &one); err != nil {
			return nil, err
		}
		return out, keep(0, &one)
	}
	err := wire.Walk(body, map[string]wire.Handler{"": func(d *json.Decoder) error { return wire.Each(d, keep) }})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (r *rawTicker) ticker(sym market.Symbol) (market.Ticker, error) {
	var f wire.Fields
	last := f.Dec("lastPrice", r.LastPrice)
	t := market.Ticker{
		Exchange: ID, Symbol: sym, ExchangeSymbol: r.Symbol,
		Time: f.Millis("closeTime", r.CloseTime),
		Bid:  f.Dec("bidPrice", r.BidPrice), BidVolume: f.Dec("bidQty", r.BidQty),
		Ask: f.Dec("askPrice", r.AskPrice), AskVolume: f.Dec("askQty", r.AskQty),
		Last: last, Close: last,
		Open: f.Dec("openPrice", r.OpenPrice), High: f.Dec("highPrice", r.HighPrice), Low: f.Dec("lowPrice", r.LowPrice),
		VWAP:       f.Dec("weightedAvgPrice", r.WeightedAvg),
		BaseVolume: f.Dec("volume", r.Volume), QuoteVolume: f.Dec("quoteVolume", r.QuoteVolume),
	}
	return t, f.Err
}

// ParseOrderBook parses GET /api/v3/depth. Binance sends no time; the book
// is identified by lastUpdateId (the nonce).
func ParseOrderBook(body []byte) (market.OrderBook, error) {
	var raw struct {
		LastUpdateID wire.Text     `json:"lastUpdateId"`
		Bids         [][]wire.Text `json:"bids"`
		Asks         [][]wire.Text `json:"asks"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return market.OrderBook{}, err
	}
	var f wire.Fields
	b := market.OrderBook{Exchange: ID, Nonce: f.Int("lastUpdateId", raw.LastUpdateID)}
	if f.Err != nil {
		return market.OrderBook{}, f.Err
	}
	if err := wire.Sides(&b, "amount", raw.Bids, raw.Asks, 0); err != nil {
		return market.OrderBook{}, err
	}
	return b, nil
}

// klines are GET /api/v3/klines rows [openTime, o, h, l, c, v, ...],
// oldest first.
var klines = wire.CandleLayout{Unit: time.Millisecond, Open: 1, High: 2, Low: 3, Close: 4, Volume: 5}

// ParseOHLCV parses GET /api/v3/klines.
func ParseOHLCV(body []byte) ([]market.Candle, error) {
	rows, err := wire.TextRows(body)
	if err != nil {
		return nil, err
	}
	return klines.Parse(ID, rows)
}

type aggTrade struct {
	ID           wire.Text `json:"a"`
	Price        wire.Text `json:"p"`
	Qty          wire.Text `json:"q"`
	Time         wire.Text `json:"T"`
	BuyerIsMaker *bool     `json:"m"`
	// M (best price match) is declared so that encoding/json's
	// case-insensitive matching cannot read it as m.
	BestMatch *bool `json:"M"`
}

// ParseTrades parses GET /api/v3/aggTrades, oldest first.
func ParseTrades(body []byte) ([]market.Trade, error) {
	var rows []aggTrade
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, err
	}
	return wire.TradeRows(rows, false, aggTrade.trade)
}

// trade reads one aggregate trade. m (buyer is maker) means the taker sold.
func (r aggTrade) trade() (market.Trade, error) {
	var f wire.Fields
	t := market.Trade{
		Exchange: ID, ID: f.ID("a", r.ID), Time: f.Time("T", r.Time, time.Millisecond),
		Price: f.Req("p", r.Price), Amount: f.Req("q", r.Qty),
	}
	if r.BuyerIsMaker != nil {
		t.Side = market.SideBuy
		if *r.BuyerIsMaker {
			t.Side = market.SideSell
		}
	}
	return t, f.Err
}
