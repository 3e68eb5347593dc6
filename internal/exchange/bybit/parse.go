package bybit

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
)

// envelope is Bybit v5's wrapper: retCode 0 is success; time is the
// server's clock in ms (a string in older recordings, a number live).
type envelope struct {
	RetCode wire.Text       `json:"retCode"`
	RetMsg  string          `json:"retMsg"`
	Result  json.RawMessage `json:"result"`
	Time    wire.Text       `json:"time"`
}

func decodeResult(body []byte, result any) (envelope, error) {
	var env envelope
	if err := wire.Decode(body, &env); err != nil {
		return env, err
	}
	if env.RetCode != "0" {
		return env, fmt.Errorf("retCode %q (%s): %w", env.RetCode, env.RetMsg, wire.ErrShape)
	}
	if len(env.Result) == 0 {
		return env, fmt.Errorf("result: %w", wire.ErrMissing)
	}
	if err := wire.Decode(env.Result, result); err != nil {
		return env, fmt.Errorf("result: %w", err)
	}
	return env, nil
}

// deriveID builds Bybit's spot symbol, BASEQUOTE. The reverse needs the
// market list: BTCUSDT does not say where the base ends.
func deriveID(s market.Symbol) string { return s.Base() + s.Quote() }

type instrument struct {
	Symbol    wire.Text `json:"symbol"`
	BaseCoin  wire.Text `json:"baseCoin"`
	QuoteCoin wire.Text `json:"quoteCoin"`
	Status    wire.Text `json:"status"`
}

// parseMarkets reads /v5/market/instruments-info?category=spot (spot has
// no pagination).
func parseMarkets(body []byte) ([]market.Market, error) {
	var res struct {
		List []instrument `json:"list"`
	}
	if _, err := decodeResult(body, &res); err != nil {
		return nil, err
	}
	return wire.Rows("instrument", res.List, func(r instrument) (market.Market, error) {
		return wire.SpotMarket(ID, string(r.Symbol), string(r.BaseCoin), string(r.QuoteCoin), nil, r.Status == "Trading")
	})
}

type tickerRow struct {
	Symbol       wire.Text `json:"symbol"`
	Bid1Price    wire.Text `json:"bid1Price"`
	Bid1Size     wire.Text `json:"bid1Size"`
	Ask1Price    wire.Text `json:"ask1Price"`
	Ask1Size     wire.Text `json:"ask1Size"`
	LastPrice    wire.Text `json:"lastPrice"`
	PrevPrice24h wire.Text `json:"prevPrice24h"`
	HighPrice24h wire.Text `json:"highPrice24h"`
	LowPrice24h  wire.Text `json:"lowPrice24h"`
	Turnover24h  wire.Text `json:"turnover24h"`
	Volume24h    wire.Text `json:"volume24h"`
}

// parseTickers reads /v5/market/tickers, row by row (see wire.Walk).
// The rows carry no time; the envelope's server time is when the snapshot
// was taken, so it is the ticker's time. Rows symbolOf cannot map are
// skipped; a symbol listed twice fails the answer.
func parseTickers(body []byte, symbolOf func(string) (market.Symbol, bool)) ([]market.Ticker, error) {
	var retCode, at wire.Text
	var retMsg string
	var out []market.Ticker
	hasResult := false
	rows := wire.TickerRows(&out, func(r *tickerRow) string { return string(r.Symbol) }, symbolOf, (*tickerRow).ticker)
	err := wire.Walk(body, map[string]wire.Handler{
		"retCode": wire.Into(&retCode),
		"retMsg":  wire.Into(&retMsg),
		"time":    wire.Into(&at),
		"result.list": func(d *json.Decoder) error {
			hasResult = true
			return wire.Each(d, rows)
		},
	})
	switch {
	case err != nil:
		return nil, err
	case retCode != "0":
		return nil, fmt.Errorf("retCode %q (%s): %w", retCode, retMsg, wire.ErrShape)
	case !hasResult:
		return nil, fmt.Errorf("result.list: %w", wire.ErrMissing)
	}
	return wire.AnswerTime(out, "time", at)
}

func (r *tickerRow) ticker(sym market.Symbol) (market.Ticker, error) {
	var f wire.Fields
	t := market.Ticker{
		Exchange: ID, Symbol: sym, ExchangeSymbol: string(r.Symbol),
		Bid: f.Dec("bid1Price", r.Bid1Price), BidVolume: f.Dec("bid1Size", r.Bid1Size),
		Ask: f.Dec("ask1Price", r.Ask1Price), AskVolume: f.Dec("ask1Size", r.Ask1Size),
		Last: f.Dec("lastPrice", r.LastPrice), Open: f.Dec("prevPrice24h", r.PrevPrice24h),
		High: f.Dec("highPrice24h", r.HighPrice24h), Low: f.Dec("lowPrice24h", r.LowPrice24h),
		BaseVolume: f.Dec("volume24h", r.Volume24h), QuoteVolume: f.Dec("turnover24h", r.Turnover24h),
	}
	wire.SafeTicker(&t)
	return t, f.Err
}

// parseOrderBook reads /v5/market/orderbook: {s, b, a, ts, u, seq}.
func parseOrderBook(body []byte, depth int) (market.OrderBook, error) {
	b := market.OrderBook{Exchange: ID}
	var res struct {
		S  wire.Text     `json:"s"`
		B  [][]wire.Text `json:"b"`
		A  [][]wire.Text `json:"a"`
		TS wire.Text     `json:"ts"`
	}
	if _, err := decodeResult(body, &res); err != nil {
		return b, err
	}
	var err error
	if b.Time, err = wire.Millis("ts", res.TS); err != nil {
		return b, err
	}
	b.ExchangeSymbol = string(res.S)
	return b, wire.Sides(&b, "size", res.B, res.A, depth)
}

// klines are /v5/market/kline rows [start, o, h, l, c, volume, turnover],
// newest first.
var klines = wire.CandleLayout{Unit: time.Millisecond, Open: 1, High: 2, Low: 3, Close: 4, Volume: 5, NewestFirst: true}

// parseCandles reads /v5/market/kline, oldest first.
func parseCandles(body []byte) ([]market.Candle, error) {
	var res struct {
		List [][]wire.Text `json:"list"`
	}
	if _, err := decodeResult(body, &res); err != nil {
		return nil, err
	}
	return klines.Parse(ID, res.List)
}

type tradeRow struct {
	ExecID wire.Text `json:"execId"`
	Symbol wire.Text `json:"symbol"`
	Price  wire.Text `json:"price"`
	Size   wire.Text `json:"size"`
	Side   wire.Text `json:"side"`
	Time   wire.Text `json:"time"`
}

// parseTrades reads /v5/market/recent-trade (newest first), oldest first.
func parseTrades(body []byte) ([]market.Trade, error) {
	var res struct {
		List []tradeRow `json:"list"`
	}
	if _, err := decodeResult(body, &res); err != nil {
		return nil, err
	}
	return wire.TradeRows(res.List, true, tradeRow.trade)
}

func (r tradeRow) trade() (market.Trade, error) {
	var f wire.Fields
	t := market.Trade{
		Exchange: ID, ExchangeSymbol: string(r.Symbol), ID: f.ID("execId", r.ExecID),
		Time: f.Time("time", r.Time, time.Millisecond), Price: f.Req("price", r.Price), Amount: f.Req("size", r.Size),
		Side: f.Side("side", r.Side, "Buy", "Sell"),
	}
	return t, f.Err
}
