package coinbaseexchange

import (
	"testing"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

// seed adds every recorded Coinbase payload and the docs examples.
func seed(f *testing.F) {
	exchangetest.Seed(f, ID, "products.json", "book-level2.json")
	f.Add([]byte(`[[1710327600,1,2,3,4,5]]`))
}

func FuzzParseMarkets(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		ms, err := parseMarkets(body)
		exchangetest.CheckMalformed(t, body, err)
		if err == nil {
			exchangetest.CheckMarkets(t, ms)
		}
	})
}

func FuzzParseTickers(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		tk, err := parseTicker(body)
		exchangetest.CheckMalformed(t, body, err)
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
		exchangetest.CheckMalformed(t, body, err)
		exchangetest.CheckLevels(t, b)
	})
}

func FuzzParseCandles(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		cs, err := parseCandles(body)
		exchangetest.CheckMalformed(t, body, err)
		exchangetest.CheckCandles(t, cs, true)
	})
}

func FuzzParseTrades(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		ts, err := parseTrades(body)
		exchangetest.CheckMalformed(t, body, err)
		exchangetest.CheckTrades(t, ts, true)
	})
}
