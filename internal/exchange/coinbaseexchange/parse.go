package coinbaseexchange

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
)

// renames are Coinbase's codes that CCXT unifies differently.
var renames = map[string]string{"CGLD": "CELO"}

func currency(code string) string {
	if u, ok := renames[strings.ToUpper(code)]; ok {
		return u
	}
	return market.CommonCurrency(code)
}

func exchangeCurrency(code string) string {
	for k, v := range renames {
		if v == code {
			return k
		}
	}
	return code
}

// deriveID builds Coinbase's product id, BASE-QUOTE.
func deriveID(s market.Symbol) string {
	return exchangeCurrency(s.Base()) + "-" + exchangeCurrency(s.Quote())
}

// isoTime parses Coinbase's RFC 3339 times ("2024-03-13T11:10:41.270099Z").
func isoTime(field string, s wire.Text) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", field, err)
	}
	return t.UTC(), nil
}

type product struct {
	ID     wire.Text `json:"id"`
	Status wire.Text `json:"status"`
}

// parseMarkets reads /products; like CCXT it takes base and quote from the
// id, BASE-QUOTE.
func parseMarkets(body []byte) ([]market.Market, error) {
	var rows []product
	if err := wire.Decode(body, &rows); err != nil {
		return nil, err
	}
	out := make([]market.Market, 0, len(rows))
	for i, r := range rows {
		baseID, quoteID, ok := strings.Cut(string(r.ID), "-")
		if !ok || baseID == "" || quoteID == "" || strings.Contains(quoteID, "-") {
			return nil, fmt.Errorf("product %d: id %q: %w", i, r.ID, wire.ErrShape)
		}
		base, quote := currency(baseID), currency(quoteID)
		sym, err := market.ParseSymbol(base + "/" + quote)
		if err != nil {
			return nil, fmt.Errorf("product %d: %w", i, err)
		}
		out = append(out, market.Market{
			Exchange: ID, ID: string(r.ID), Symbol: sym,
			Base: base, Quote: quote, BaseID: baseID, QuoteID: quoteID,
			Active: r.Status == "online", Type: "spot",
		})
	}
	return out, nil
}

// parseTicker reads /products/{id}/ticker: {ask, bid, volume, trade_id,
// price, size, time}. It has no 24h open/high/low (those are in /stats,
// which CCXT does not call either).
func parseTicker(body []byte) (market.Ticker, error) {
	var r struct {
		Ask    wire.Text `json:"ask"`
		Bid    wire.Text `json:"bid"`
		Volume wire.Text `json:"volume"`
		Price  wire.Text `json:"price"`
		Time   wire.Text `json:"time"`
	}
	t := market.Ticker{Exchange: ID}
	if err := wire.Decode(body, &r); err != nil {
		return t, err
	}
	var err error
	if r.Time != "" {
		if t.Time, err = isoTime("time", r.Time); err != nil {
			return t, err
		}
	}
	for _, f := range []struct {
		name string
		src  wire.Text
		dst  *market.Decimal
	}{{"ask", r.Ask, &t.Ask}, {"bid", r.Bid, &t.Bid}, {"volume", r.Volume, &t.BaseVolume}, {"price", r.Price, &t.Last}} {
		if *f.dst, err = wire.OptDecimal(f.name, f.src); err != nil {
			return t, err
		}
	}
	if !t.Last.Valid() {
		return t, fmt.Errorf("price: %w", wire.ErrMissing)
	}
	t.Last, t.Bid, t.Ask = wire.NonZero(t.Last), wire.NonZero(t.Bid), wire.NonZero(t.Ask)
	t.Close = t.Last
	return t, nil
}

// parseOrderBook reads /products/{id}/book?level=2: levels are [price,
// size, num_orders], sequence is the nonce, time (when sent) the snapshot's.
func parseOrderBook(body []byte, depth int) (market.OrderBook, error) {
	var b market.OrderBook
	var r struct {
		Bids     [][]wire.Text `json:"bids"`
		Asks     [][]wire.Text `json:"asks"`
		Sequence wire.Text     `json:"sequence"`
		Time     wire.Text     `json:"time"`
	}
	if err := wire.Decode(body, &r); err != nil {
		return b, err
	}
	if r.Bids == nil || r.Asks == nil {
		return b, fmt.Errorf("bids/asks: %w", wire.ErrMissing)
	}
	var err error
	if r.Sequence != "" {
		if b.Nonce, err = strconv.ParseInt(string(r.Sequence), 10, 64); err != nil {
			return b, fmt.Errorf("sequence: %w", err)
		}
	}
	if r.Time != "" {
		if b.Time, err = isoTime("time", r.Time); err != nil {
			return b, err
		}
	}
	if b.Bids, err = wire.Levels("bids", "size", r.Bids, depth); err != nil {
		return b, err
	}
	if b.Asks, err = wire.Levels("asks", "size", r.Asks, depth); err != nil {
		return b, err
	}
	return b, nil
}

// parseCandles reads /products/{id}/candles: numeric rows [time (s), LOW,
// HIGH, OPEN, CLOSE, volume], newest first; returns them oldest first.
func parseCandles(body []byte) ([]market.Candle, error) {
	var rows [][]wire.Text
	if err := wire.Decode(body, &rows); err != nil {
		return nil, err
	}
	out := make([]market.Candle, 0, len(rows))
	for i, r := range rows {
		if len(r) < 6 {
			return nil, fmt.Errorf("candle %d: want 6 values, got %d: %w", i, len(r), wire.ErrShape)
		}
		sec, err := strconv.ParseInt(string(r[0]), 10, 64)
		if err != nil || sec <= 0 {
			return nil, fmt.Errorf("candle %d: time %q: %w", i, r[0], wire.ErrShape)
		}
		c := market.Candle{Exchange: ID, Time: time.Unix(sec, 0).UTC()}
		for j, dst := range []*market.Decimal{&c.Low, &c.High, &c.Open, &c.Close, &c.Volume} {
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

// parseTrades reads /products/{id}/trades (newest first). Coinbase's side
// is the maker's: a "sell" trade is a taker buy, so it is inverted, as
// CCXT and Coinbase's docs do.
func parseTrades(body []byte) ([]market.Trade, error) {
	var rows []struct {
		TradeID wire.Text `json:"trade_id"`
		Side    wire.Text `json:"side"`
		Size    wire.Text `json:"size"`
		Price   wire.Text `json:"price"`
		Time    wire.Text `json:"time"`
	}
	if err := wire.Decode(body, &rows); err != nil {
		return nil, err
	}
	out := make([]market.Trade, 0, len(rows))
	for i, r := range rows {
		t := market.Trade{Exchange: ID, ID: string(r.TradeID)}
		if t.ID == "" {
			return nil, fmt.Errorf("trade %d: trade_id: %w", i, wire.ErrMissing)
		}
		var err error
		if t.Time, err = isoTime(fmt.Sprintf("trade %d time", i), r.Time); err != nil {
			return nil, err
		}
		if t.Price, err = wire.ReqDecimal("price", r.Price); err != nil {
			return nil, fmt.Errorf("trade %d: %w", i, err)
		}
		if t.Amount, err = wire.ReqDecimal("size", r.Size); err != nil {
			return nil, fmt.Errorf("trade %d: %w", i, err)
		}
		switch r.Side {
		case "buy":
			t.Side = market.SideSell
		case "sell":
			t.Side = market.SideBuy
		default:
			return nil, fmt.Errorf("trade %d: side %q: %w", i, r.Side, wire.ErrShape)
		}
		out = append(out, t)
	}
	slices.Reverse(out)
	slices.SortStableFunc(out, func(a, b market.Trade) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// aggregate builds candles of period tf from shorter ones (oldest first),
// bucketed on multiples of tf since the epoch (UTC). Buckets before from
// are dropped: they were only partly requested.
func aggregate(cs []market.Candle, tf market.Timeframe, from time.Time) []market.Candle {
	var out []market.Candle
	for _, c := range cs {
		bucket := c.Time.Truncate(tf.Duration())
		if bucket.Before(from) {
			continue
		}
		n := len(out)
		if n == 0 || !out[n-1].Time.Equal(bucket) {
			c.Time, c.Timeframe = bucket, tf
			out = append(out, c)
			continue
		}
		a := &out[n-1]
		if c.High.Cmp(a.High) > 0 {
			a.High = c.High
		}
		if c.Low.Cmp(a.Low) < 0 {
			a.Low = c.Low
		}
		a.Close = c.Close
		a.Volume = a.Volume.Add(c.Volume)
	}
	return out
}

func decodeError(endpoint string, body []byte, err error) error {
	return &exchange.DecodeError{Exchange: ID, Endpoint: endpoint, Payload: body, Err: err}
}
