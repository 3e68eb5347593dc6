package cache

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// The market types write CCXT's JSON but do not read it back in full:
// timestamps are written as CCXT's "timestamp" (ms) beside fields tagged
// "-", and candles as arrays. These decoders restore what the JSON carries;
// the exchange comes from the key. ExchangeSymbol is not in the JSON and
// stays empty.

// ccxtTimestamp reads CCXT's "timestamp" field.
type ccxtTimestamp struct {
	Timestamp *int64 `json:"timestamp"`
}

func (t ccxtTimestamp) time() time.Time {
	if t.Timestamp == nil {
		return time.Time{}
	}
	return time.UnixMilli(*t.Timestamp).UTC()
}

func decodeTicker(b []byte, exchange string) (market.Ticker, error) {
	var t market.Ticker
	var ts ccxtTimestamp
	if err := json.Unmarshal(b, &t); err != nil {
		return market.Ticker{}, fmt.Errorf("%w: ticker: %w", ErrCorrupt, err)
	}
	if err := json.Unmarshal(b, &ts); err != nil {
		return market.Ticker{}, fmt.Errorf("%w: ticker timestamp: %w", ErrCorrupt, err)
	}
	t.Exchange, t.Time = exchange, ts.time()
	return t, nil
}

func decodeOrderBook(b []byte, exchange string) (market.OrderBook, error) {
	var ob market.OrderBook
	var ts ccxtTimestamp
	if err := json.Unmarshal(b, &ob); err != nil {
		return market.OrderBook{}, fmt.Errorf("%w: order book: %w", ErrCorrupt, err)
	}
	if err := json.Unmarshal(b, &ts); err != nil {
		return market.OrderBook{}, fmt.Errorf("%w: order book timestamp: %w", ErrCorrupt, err)
	}
	ob.Exchange, ob.Time = exchange, ts.time()
	return ob, nil
}

// ccxtCandle is a candle as CCXT's [timestamp, open, high, low, close,
// volume]; writing uses market.Candle's own MarshalJSON.
type ccxtCandle struct {
	market.Candle
}

// UnmarshalJSON reads [timestamp, open, high, low, close, volume].
func (k *ccxtCandle) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if len(raw) != 6 {
		return fmt.Errorf("candle has %d fields, want 6", len(raw))
	}
	var ms int64
	if err := json.Unmarshal(raw[0], &ms); err != nil {
		return fmt.Errorf("candle timestamp: %w", err)
	}
	k.Time = time.UnixMilli(ms).UTC()
	for i, d := range []*market.Decimal{&k.Open, &k.High, &k.Low, &k.Close, &k.Volume} {
		if err := d.UnmarshalJSON(raw[i+1]); err != nil {
			return fmt.Errorf("candle field %d: %w", i+1, err)
		}
	}
	return nil
}
