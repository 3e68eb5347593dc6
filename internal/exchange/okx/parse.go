package okx

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

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

// currencies are OKX's currency codes that CCXT unifies differently.
var currencies = wire.Currencies{"AE": "AET"}

// deriveID builds OKX's spot instId, BASE-QUOTE.
func deriveID(s market.Symbol) string {
	return currencies.Native(s.Base()) + "-" + currencies.Native(s.Quote())
}

// deriveSymbol maps a spot instId to the unified symbol.
func deriveSymbol(id string) (market.Symbol, bool) {
	base, quote, ok := strings.Cut(id, "-")
	if !ok || base == "" || quote == "" || strings.Contains(quote, "-") {
		return "", false
	}
	return market.NewSymbol(currencies.Unified(base), currencies.Unified(quote)), true
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
		m, err := wire.SpotMarket(ID, string(r.InstID), baseID, quoteID, currencies, r.State == "live")
		if err != nil {
			return nil, fmt.Errorf("instrument %d: %w", i, err)
		}
		out = append(out, m)
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
	rows := wire.TickerRows(&out, func(r *tickerRow) string { return string(r.InstID) }, symbolOf, (*tickerRow).ticker)
	spot := func(i int, r *tickerRow) error {
		if r.InstType != "" && r.InstType != "SPOT" {
			return nil
		}
		return rows(i, r)
	}
	err := wire.Walk(body, map[string]wire.Handler{
		"code": wire.Into(&code),
		"msg":  wire.Into(&msg),
		"data": func(d *json.Decoder) error { return wire.Each(d, spot) },
	})
	if err != nil {
		return nil, err
	}
	if code != "0" {
		return nil, fmt.Errorf("code %q (%s): %w", code, msg, wire.ErrShape)
	}
	return out, nil
}

func (r *tickerRow) ticker(sym market.Symbol) (market.Ticker, error) {
	var f wire.Fields
	t := market.Ticker{Exchange: ID, Symbol: sym, ExchangeSymbol: string(r.InstID)}
	if r.TS != "" {
		t.Time = f.Millis("ts", r.TS)
	}
	t.Last, t.Ask, t.AskVolume = f.Dec("last", r.Last), f.Dec("askPx", r.AskPx), f.Dec("askSz", r.AskSz)
	t.Bid, t.BidVolume, t.Open = f.Dec("bidPx", r.BidPx), f.Dec("bidSz", r.BidSz), f.Dec("open24h", r.Open24h)
	t.High, t.Low = f.Dec("high24h", r.High24h), f.Dec("low24h", r.Low24h)
	t.BaseVolume, t.QuoteVolume = f.Dec("vol24h", r.Vol), f.Dec("volCcy24h", r.VolCcy)
	wire.SafeTicker(&t)
	return t, f.Err
}

type bookRow struct {
	Asks [][]wire.Text `json:"asks"`
	Bids [][]wire.Text `json:"bids"`
	TS   wire.Text     `json:"ts"`
}

// parseOrderBook reads /market/books; levels are [price, size, "0", orders].
func parseOrderBook(body []byte, depth int) (market.OrderBook, error) {
	b := market.OrderBook{Exchange: ID}
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
	return b, wire.Sides(&b, "size", r.Bids, r.Asks, depth)
}

// candles are /market/candles and /market/history-candles rows [ts, o,
// h, l, c, vol, volCcy, volCcyQuote, confirm], newest first. vol is in
// base currency for spot, as CCXT takes it.
var candles = wire.CandleLayout{Unit: time.Millisecond, Open: 1, High: 2, Low: 3, Close: 4, Volume: 5, NewestFirst: true}

// parseCandles reads /market/candles and /market/history-candles, oldest
// first. Unconfirmed (current) candles are kept: Candle.ClosedAt tells
// them apart.
func parseCandles(body []byte) ([]market.Candle, error) {
	rows, err := decodeEnvelope[[]wire.Text](body)
	if err != nil {
		return nil, err
	}
	return candles.Parse(ID, rows)
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
	return wire.TradeRows(rows, true, tradeRow.trade) // ties keep trade order
}

func (r tradeRow) trade() (market.Trade, error) {
	var f wire.Fields
	t := market.Trade{
		Exchange: ID, ExchangeSymbol: string(r.InstID), ID: f.ID("tradeId", r.TradeID),
		Time: f.Time("ts", r.TS, time.Millisecond), Price: f.Req("px", r.Px), Amount: f.Req("sz", r.Sz),
		Side: f.Side("side", r.Side, "buy", "sell"),
	}
	return t, f.Err
}
