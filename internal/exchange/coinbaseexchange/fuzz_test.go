package coinbaseexchange

import (
	"encoding/json"
	"testing"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

// seed adds every recorded Coinbase payload and the docs examples.
func seed(f *testing.F) {
	for _, c := range exchangetest.LoadFixture(f, ID).Cases {
		if c.HasResponse() {
			f.Add([]byte(c.HTTPResponse))
		}
	}
	for _, name := range []string{"products.json", "book-level2.json"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(`[[1710327600,1,2,3,4,5]]`))
}

// checkMalformed fails when a body that is not JSON parsed without error.
func checkMalformed(t *testing.T, body []byte, err error) {
	if err == nil && !json.Valid(body) {
		t.Fatalf("malformed body accepted: %q", body)
	}
}

func FuzzParseMarkets(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		ms, err := parseMarkets(body)
		checkMalformed(t, body, err)
		for _, m := range ms {
			if _, perr := market.ParseSymbol(string(m.Symbol)); perr != nil && err == nil {
				t.Fatalf("invalid symbol %q accepted", m.Symbol)
			}
		}
	})
}

func FuzzParseTickers(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		tk, err := parseTicker(body)
		checkMalformed(t, body, err)
		// A zero price is accepted and dropped, as CCXT does (found by fuzzing).
		for _, d := range []market.Decimal{tk.Last, tk.Bid, tk.Ask, tk.BaseVolume} {
			if d.Valid() && d.Rat() == nil {
				t.Fatalf("invalid decimal accepted: %+v", tk)
			}
		}
	})
}

func FuzzParseOrderBook(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parseOrderBook(body, 0)
		checkMalformed(t, body, err)
		for _, l := range append(b.Bids, b.Asks...) {
			if !l.Price.Valid() || !l.Amount.Valid() {
				t.Fatalf("level with absent values accepted: %+v", l)
			}
		}
	})
}

func FuzzParseCandles(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		cs, err := parseCandles(body)
		checkMalformed(t, body, err)
		for i, c := range cs {
			if c.Time.IsZero() || !c.Close.Valid() || i > 0 && c.Time.Before(cs[i-1].Time) {
				t.Fatalf("bad candle %d: %+v", i, c)
			}
		}
	})
}

func FuzzParseTrades(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		ts, err := parseTrades(body)
		checkMalformed(t, body, err)
		for i, tr := range ts {
			if tr.ID == "" || tr.Time.IsZero() || !tr.Price.Valid() || i > 0 && tr.Time.Before(ts[i-1].Time) {
				t.Fatalf("bad trade %d: %+v", i, tr)
			}
		}
	})
}
