package coinbaseexchange

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
)

// currencies are Coinbase's codes that CCXT unifies differently.
var currencies = wire.Currencies{"CGLD": "CELO"}

// deriveID builds Coinbase's product id, BASE-QUOTE.
func deriveID(s market.Symbol) string {
	return currencies.Native(s.Base()) + "-" + currencies.Native(s.Quote())
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
	return wire.Rows("product", rows, func(r product) (market.Market, error) {
		baseID, quoteID, ok := strings.Cut(string(r.ID), "-")
		if !ok || baseID == "" || quoteID == "" || strings.Contains(quoteID, "-") {
			return market.Market{}, fmt.Errorf("id %q: %w", r.ID, wire.ErrShape)
		}
		return wire.SpotMarket(ID, string(r.ID), baseID, quoteID, currencies, r.Status == "online")
	})
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
	var f wire.Fields
	t.Ask, t.Bid, t.BaseVolume, t.Last = f.Dec("ask", r.Ask), f.Dec("bid", r.Bid), f.Dec("volume", r.Volume), f.Dec("price", r.Price)
	if f.Err != nil {
		return t, f.Err
	}
	if !t.Last.Valid() {
		return t, fmt.Errorf("price: %w", wire.ErrMissing)
	}
	wire.SafeTicker(&t)
	return t, nil
}

// parseOrderBook reads /products/{id}/book?level=2: levels are [price,
// size, num_orders], sequence is the nonce, time (when sent) the snapshot's.
func parseOrderBook(body []byte, depth int) (market.OrderBook, error) {
	b := market.OrderBook{Exchange: ID}
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
	return b, wire.Sides(&b, "size", r.Bids, r.Asks, depth)
}

// candles are /products/{id}/candles' numeric rows [time (s), LOW,
// HIGH, OPEN, CLOSE, volume], newest first.
var candles = wire.CandleLayout{Unit: time.Second, Low: 1, High: 2, Open: 3, Close: 4, Volume: 5, NewestFirst: true}

// parseCandles reads /products/{id}/candles, oldest first.
func parseCandles(body []byte) ([]market.Candle, error) {
	var rows [][]wire.Text
	if err := wire.Decode(body, &rows); err != nil {
		return nil, err
	}
	return candles.Parse(ID, rows)
}

type tradeRow struct {
	TradeID wire.Text `json:"trade_id"`
	Side    wire.Text `json:"side"`
	Size    wire.Text `json:"size"`
	Price   wire.Text `json:"price"`
	Time    wire.Text `json:"time"`
}

// parseTrades reads /products/{id}/trades (newest first), oldest first.
func parseTrades(body []byte) ([]market.Trade, error) {
	var rows []tradeRow
	if err := wire.Decode(body, &rows); err != nil {
		return nil, err
	}
	return wire.TradeRows(rows, true, tradeRow.trade)
}

// trade reads one trade. Coinbase's side is the maker's: a "sell" trade is
// a taker buy, so it is inverted, as CCXT and Coinbase's docs do.
func (r tradeRow) trade() (market.Trade, error) {
	var f wire.Fields
	t := market.Trade{
		Exchange: ID, ID: f.ID("trade_id", r.TradeID),
		Price: f.Req("price", r.Price), Amount: f.Req("size", r.Size), Side: f.Side("side", r.Side, "sell", "buy"),
	}
	if f.Err != nil {
		return t, f.Err
	}
	var err error
	t.Time, err = isoTime("time", r.Time)
	return t, err
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
