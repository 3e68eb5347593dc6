package bybit

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/mdingest/mdingest/internal/exchange"
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
	out := make([]market.Market, 0, len(res.List))
	for i, r := range res.List {
		if r.Symbol == "" || r.BaseCoin == "" || r.QuoteCoin == "" {
			return nil, fmt.Errorf("instrument %d: symbol/baseCoin/quoteCoin: %w", i, wire.ErrMissing)
		}
		base, quote := market.CommonCurrency(string(r.BaseCoin)), market.CommonCurrency(string(r.QuoteCoin))
		sym, err := market.ParseSymbol(base + "/" + quote)
		if err != nil {
			return nil, fmt.Errorf("instrument %d: %w", i, err)
		}
		out = append(out, market.Market{
			Exchange: ID, ID: string(r.Symbol), Symbol: sym,
			Base: base, Quote: quote, BaseID: string(r.BaseCoin), QuoteID: string(r.QuoteCoin),
			Active: r.Status == "Trading", Type: "spot",
		})
	}
	return out, nil
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
	seen := wire.Seen{}
	hasResult := false
	err := wire.Walk(body, map[string]wire.Handler{
		"retCode": wire.Into(&retCode),
		"retMsg":  wire.Into(&retMsg),
		"time":    wire.Into(&at),
		"result.list": func(d *json.Decoder) error {
			hasResult = true
			return wire.Each(d, func(i int, r *tickerRow) error {
				sym, ok := symbolOf(string(r.Symbol))
				if !ok {
					return nil
				}
				if err := seen.Add(string(r.Symbol)); err != nil {
					return err
				}
				t, err := r.ticker(sym)
				if err != nil {
					return fmt.Errorf("ticker %d (%s): %w", i, r.Symbol, err)
				}
				out = append(out, t)
				return nil
			})
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
	if at != "" {
		when, err := wire.Millis("time", at)
		if err != nil {
			return nil, err
		}
		for i := range out {
			out[i].Time = when
		}
	}
	return out, nil
}

func (r *tickerRow) ticker(sym market.Symbol) (market.Ticker, error) {
	t := market.Ticker{Exchange: ID, Symbol: sym, ExchangeSymbol: string(r.Symbol)}
	fields := []struct {
		name string
		src  wire.Text
		dst  *market.Decimal
	}{
		{"bid1Price", r.Bid1Price, &t.Bid}, {"bid1Size", r.Bid1Size, &t.BidVolume},
		{"ask1Price", r.Ask1Price, &t.Ask}, {"ask1Size", r.Ask1Size, &t.AskVolume},
		{"lastPrice", r.LastPrice, &t.Last}, {"prevPrice24h", r.PrevPrice24h, &t.Open},
		{"highPrice24h", r.HighPrice24h, &t.High}, {"lowPrice24h", r.LowPrice24h, &t.Low},
		{"volume24h", r.Volume24h, &t.BaseVolume}, {"turnover24h", r.Turnover24h, &t.QuoteVolume},
	}
	for _, f := range fields {
		var err error
		if *f.dst, err = wire.OptDecimal(f.name, f.src); err != nil {
			return t, err
		}
	}
	t.Last, t.Bid, t.Ask = wire.NonZero(t.Last), wire.NonZero(t.Bid), wire.NonZero(t.Ask)
	t.Open, t.High, t.Low = wire.NonZero(t.Open), wire.NonZero(t.High), wire.NonZero(t.Low)
	t.Close = t.Last
	return t, nil
}

// parseOrderBook reads /v5/market/orderbook: {s, b, a, ts, u, seq}.
func parseOrderBook(body []byte, depth int) (market.OrderBook, error) {
	var b market.OrderBook
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
	if b.Bids, err = wire.Levels("b", "size", res.B, depth); err != nil {
		return b, err
	}
	if b.Asks, err = wire.Levels("a", "size", res.A, depth); err != nil {
		return b, err
	}
	return b, nil
}

// parseCandles reads /v5/market/kline rows [start, o, h, l, c, volume,
// turnover], newest first, and returns them oldest first.
func parseCandles(body []byte) ([]market.Candle, error) {
	var res struct {
		List [][]wire.Text `json:"list"`
	}
	if _, err := decodeResult(body, &res); err != nil {
		return nil, err
	}
	out := make([]market.Candle, 0, len(res.List))
	for i, r := range res.List {
		if len(r) < 6 {
			return nil, fmt.Errorf("candle %d: want at least 6 values, got %d: %w", i, len(r), wire.ErrShape)
		}
		c := market.Candle{Exchange: ID}
		var err error
		if c.Time, err = wire.Millis(fmt.Sprintf("candle %d start", i), r[0]); err != nil {
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
	slices.SortStableFunc(out, func(a, b market.Candle) int { return a.Time.Compare(b.Time) })
	return out, nil
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
	out := make([]market.Trade, 0, len(res.List))
	for i, r := range res.List {
		t := market.Trade{Exchange: ID, ExchangeSymbol: string(r.Symbol), ID: string(r.ExecID)}
		if t.ID == "" {
			return nil, fmt.Errorf("trade %d: execId: %w", i, wire.ErrMissing)
		}
		var err error
		if t.Time, err = wire.Millis(fmt.Sprintf("trade %d time", i), r.Time); err != nil {
			return nil, err
		}
		if t.Price, err = wire.ReqDecimal("price", r.Price); err != nil {
			return nil, fmt.Errorf("trade %d: %w", i, err)
		}
		if t.Amount, err = wire.ReqDecimal("size", r.Size); err != nil {
			return nil, fmt.Errorf("trade %d: %w", i, err)
		}
		switch r.Side {
		case "Buy":
			t.Side = market.SideBuy
		case "Sell":
			t.Side = market.SideSell
		default:
			return nil, fmt.Errorf("trade %d: side %q: %w", i, r.Side, wire.ErrShape)
		}
		out = append(out, t)
	}
	slices.Reverse(out)
	slices.SortStableFunc(out, func(a, b market.Trade) int { return a.Time.Compare(b.Time) })
	return out, nil
}

func decodeError(endpoint string, body []byte, err error) error {
	return &exchange.DecodeError{Exchange: ID, Endpoint: endpoint, Payload: body, Err: err}
}
