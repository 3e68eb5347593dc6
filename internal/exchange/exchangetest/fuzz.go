package exchangetest

import (
	"encoding/json"
	"testing"

	"github.com/mdingest/mdingest/internal/market"
)

// Seed adds to the fuzz corpus every recorded response of the exchange's
// CCXT fixture and the named files of the calling package's testdata.
func Seed(f *testing.F, exchange string, testdata ...string) {
	f.Helper()
	for _, c := range LoadFixture(f, exchange).Cases {
		if c.HasResponse() {
			f.Add([]byte(c.HTTPResponse))
		}
	}
	for _, name := range testdata {
		f.Add([]byte(ReadTestdata(f, name)))
	}
}

// The Check functions below are the invariants the connectors' fuzz targets
// hold parsed values to; each fails t on the first value that breaks them.

// CheckMalformed fails when a body that is not JSON parsed without error.
func CheckMalformed(t *testing.T, body []byte, err error) {
	t.Helper()
	if err == nil && !json.Valid(body) {
		t.Fatalf("malformed body accepted: %q", body)
	}
}

// CheckMarkets requires unified symbols.
func CheckMarkets(t *testing.T, ms []market.Market) {
	t.Helper()
	for _, m := range ms {
		if _, err := market.ParseSymbol(string(m.Symbol)); err != nil {
			t.Fatalf("market %q: %v", m.Symbol, err)
		}
	}
}

// CheckLevels requires a price and an amount on every level.
func CheckLevels(t *testing.T, b market.OrderBook) {
	t.Helper()
	for _, l := range append(b.Bids, b.Asks...) {
		if !l.Price.Valid() || !l.Amount.Valid() {
			t.Fatalf("level with absent values accepted: %+v", l)
		}
	}
}

// CheckCandles requires a time and a close on every candle and, when
// oldestFirst, candles in time order.
func CheckCandles(t *testing.T, cs []market.Candle, oldestFirst bool) {
	t.Helper()
	for i, c := range cs {
		if c.Time.IsZero() || !c.Close.Valid() || oldestFirst && i > 0 && c.Time.Before(cs[i-1].Time) {
			t.Fatalf("bad candle %d: %+v", i, c)
		}
	}
}

// CheckTrades requires an id, a time and a price on every trade and, when
// oldestFirst, trades in time order.
func CheckTrades(t *testing.T, ts []market.Trade, oldestFirst bool) {
	t.Helper()
	for i, tr := range ts {
		if tr.ID == "" || tr.Time.IsZero() || !tr.Price.Valid() || oldestFirst && i > 0 && tr.Time.Before(ts[i-1].Time) {
			t.Fatalf("bad trade %d: %+v", i, tr)
		}
	}
}
