package spool

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"time"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
)

// kind says which row type a record's payload holds; it is written to disk,
// so values never change meaning.
type kind byte

const (
	kindMarkets kind = iota + 1
	kindTickers
	kindOrderBooks
	kindCandles
	kindTrades
	kindQualityReports
	kindRejectedRows
	kindJobRuns
	kindRequestMetrics
)

// The market types keep decimals in an unexported field, which gob cannot
// see; these mirrors carry them as their exact text. The ops rows
// have only exported fields and go as they are.
type (
	wireCandle struct {
		Exchange, Symbol, Timeframe    string
		Time                           time.Time
		Open, High, Low, Close, Volume string
		Closed                         bool
	}
	wireTicker struct {
		Exchange, Symbol, ExchangeSymbol string
		Time                             time.Time
		Bid, BidVolume, Ask, AskVolume   string
		Last, Open, High, Low, Close     string
		VWAP, BaseVolume, QuoteVolume    string
	}
	wireBook struct {
		Exchange, Symbol, ExchangeSymbol string
		Time                             time.Time
		Nonce                            int64
		Bids, Asks                       [][2]string
	}
	wireTrade struct {
		Exchange, Symbol, ExchangeSymbol, ID string
		Time                                 time.Time
		Side, Price, Amount                  string
	}
)

// encodeRows returns the payload of a record holding rows.
func encodeRows(rows any) (kind, []byte, error) {
	var k kind
	var v any
	switch r := rows.(type) {
	case []market.Market:
		k, v = kindMarkets, r
	case []market.Ticker:
		k, v = kindTickers, mapRows(r, toWireTicker)
	case []market.OrderBook:
		k, v = kindOrderBooks, mapRows(r, toWireBook)
	case []market.Candle:
		k, v = kindCandles, mapRows(r, toWireCandle)
	case []market.Trade:
		k, v = kindTrades, mapRows(r, toWireTrade)
	case []ops.QualityReport:
		k, v = kindQualityReports, r
	case []ops.RejectedRow:
		k, v = kindRejectedRows, r
	case []ops.JobRun:
		k, v = kindJobRuns, r
	case []ops.RequestMetric:
		k, v = kindRequestMetrics, r
	default:
		return 0, nil, fmt.Errorf("%w: %T", ErrUnknownRows, rows)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return 0, nil, fmt.Errorf("encoding %T: %w", rows, err)
	}
	return k, buf.Bytes(), nil
}

// decodeRows is the inverse of encodeRows.
func decodeRows(k kind, payload []byte) (any, error) {
	switch k {
	case kindMarkets:
		return decodeAs[market.Market](payload)
	case kindTickers:
		return decodeMapped(payload, fromWireTicker)
	case kindOrderBooks:
		return decodeMapped(payload, fromWireBook)
	case kindCandles:
		return decodeMapped(payload, fromWireCandle)
	case kindTrades:
		return decodeMapped(payload, fromWireTrade)
	case kindQualityReports:
		return decodeAs[ops.QualityReport](payload)
	case kindRejectedRows:
		return decodeAs[ops.RejectedRow](payload)
	case kindJobRuns:
		return decodeAs[ops.JobRun](payload)
	case kindRequestMetrics:
		return decodeAs[ops.RequestMetric](payload)
	}
	return nil, fmt.Errorf("%w: unknown row kind %d", ErrCorrupt, k)
}

func decodeAs[T any](payload []byte) ([]T, error) {
	var rows []T
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(&rows); err != nil {
		return nil, fmt.Errorf("%w: decoding %T: %w", ErrCorrupt, rows, err)
	}
	return rows, nil
}

func decodeMapped[W, T any](payload []byte, from func(W) (T, error)) ([]T, error) {
	wire, err := decodeAs[W](payload)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(wire))
	for i, w := range wire {
		if out[i], err = from(w); err != nil {
			return nil, fmt.Errorf("%w: row %d: %w", ErrCorrupt, i, err)
		}
	}
	return out, nil
}

func mapRows[T, W any](rows []T, to func(T) W) []W {
	out := make([]W, len(rows))
	for i, r := range rows {
		out[i] = to(r)
	}
	return out
}

// dec parses a decimal's text back; "" is the absent decimal.
func dec(s string) (market.Decimal, error) {
	if s == "" {
		return market.Decimal{}, nil
	}
	return market.ParseDecimal(s)
}

// decimals parses decimal texts, keeping the first error.
type decimals struct{ err error }

func (r *decimals) parse(s string) market.Decimal {
	if r.err != nil {
		return market.Decimal{}
	}
	d, err := dec(s)
	r.err = err
	return d
}

func toWireCandle(c market.Candle) wireCandle {
	return wireCandle{Exchange: c.Exchange, Symbol: string(c.Symbol), Timeframe: string(c.Timeframe), Time: c.Time,
		Open: c.Open.String(), High: c.High.String(), Low: c.Low.String(), Close: c.Close.String(),
		Volume: c.Volume.String(), Closed: c.Closed}
}

func fromWireCandle(w wireCandle) (market.Candle, error) {
	var p decimals
	c := market.Candle{Exchange: w.Exchange, Symbol: market.Symbol(w.Symbol), Timeframe: market.Timeframe(w.Timeframe),
		Time: w.Time, Open: p.parse(w.Open), High: p.parse(w.High), Low: p.parse(w.Low), Close: p.parse(w.Close),
		Volume: p.parse(w.Volume), Closed: w.Closed}
	return c, p.err
}

func toWireTicker(t market.Ticker) wireTicker {
	return wireTicker{Exchange: t.Exchange, Symbol: string(t.Symbol), ExchangeSymbol: t.ExchangeSymbol, Time: t.Time,
		Bid: t.Bid.String(), BidVolume: t.BidVolume.String(), Ask: t.Ask.String(), AskVolume: t.AskVolume.String(),
		Last: t.Last.String(), Open: t.Open.String(), High: t.High.String(), Low: t.Low.String(), Close: t.Close.String(),
		VWAP: t.VWAP.String(), BaseVolume: t.BaseVolume.String(), QuoteVolume: t.QuoteVolume.String()}
}

func fromWireTicker(w wireTicker) (market.Ticker, error) {
	var p decimals
	t := market.Ticker{Exchange: w.Exchange, Symbol: market.Symbol(w.Symbol), ExchangeSymbol: w.ExchangeSymbol, Time: w.Time,
		Bid: p.parse(w.Bid), BidVolume: p.parse(w.BidVolume), Ask: p.parse(w.Ask), AskVolume: p.parse(w.AskVolume),
		Last: p.parse(w.Last), Open: p.parse(w.Open), High: p.parse(w.High), Low: p.parse(w.Low), Close: p.parse(w.Close),
		VWAP: p.parse(w.VWAP), BaseVolume: p.parse(w.BaseVolume), QuoteVolume: p.parse(w.QuoteVolume)}
	return t, p.err
}

func toWireLevels(ls []market.Level) [][2]string {
	if ls == nil {
		return nil
	}
	out := make([][2]string, len(ls))
	for i, l := range ls {
		out[i] = [2]string{l.Price.String(), l.Amount.String()}
	}
	return out
}

func fromWireLevels(ws [][2]string) ([]market.Level, error) {
	if ws == nil {
		return nil, nil
	}
	var p decimals
	out := make([]market.Level, len(ws))
	for i, w := range ws {
		out[i] = market.Level{Price: p.parse(w[0]), Amount: p.parse(w[1])}
	}
	return out, p.err
}

func toWireBook(b market.OrderBook) wireBook {
	return wireBook{Exchange: b.Exchange, Symbol: string(b.Symbol), ExchangeSymbol: b.ExchangeSymbol, Time: b.Time,
		Nonce: b.Nonce, Bids: toWireLevels(b.Bids), Asks: toWireLevels(b.Asks)}
}

func fromWireBook(w wireBook) (market.OrderBook, error) {
	b := market.OrderBook{Exchange: w.Exchange, Symbol: market.Symbol(w.Symbol), ExchangeSymbol: w.ExchangeSymbol,
		Time: w.Time, Nonce: w.Nonce}
	var err error
	if b.Bids, err = fromWireLevels(w.Bids); err != nil {
		return b, err
	}
	b.Asks, err = fromWireLevels(w.Asks)
	return b, err
}

func toWireTrade(t market.Trade) wireTrade {
	return wireTrade{Exchange: t.Exchange, Symbol: string(t.Symbol), ExchangeSymbol: t.ExchangeSymbol, ID: t.ID,
		Time: t.Time, Side: string(t.Side), Price: t.Price.String(), Amount: t.Amount.String()}
}

func fromWireTrade(w wireTrade) (market.Trade, error) {
	var p decimals
	t := market.Trade{Exchange: w.Exchange, Symbol: market.Symbol(w.Symbol), ExchangeSymbol: w.ExchangeSymbol, ID: w.ID,
		Time: w.Time, Side: market.Side(w.Side), Price: p.parse(w.Price), Amount: p.parse(w.Amount)}
	return t, p.err
}
