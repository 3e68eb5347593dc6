package bybit

import (
	"testing"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

// seed adds every recorded Bybit payload and the docs examples.
func seed(f *testing.F) {
	exchangetest.Seed(f, ID, "instruments-spot.json", "tickers-spot.json")
	f.Add([]byte(`{"retCode":0,"result":{"list":[["1","2"]]}}`))
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
		ts, err := parseTickers(body, func(id string) (market.Symbol, bool) { return market.Symbol(id + "/X"), id != "" })
		exchangetest.CheckMalformed(t, body, err)
		for _, tk := range ts {
			if tk.Symbol == "" || (tk.Last.Valid() && tk.Last.Rat() == nil) {
				t.Fatalf("bad ticker %+v", tk)
			}
		}
	})
}

func FuzzParseOrderBook(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parseOrderBook(body, 0)
		exchangetest.CheckMalformed(t, body, err)
		if err == nil && b.Time.IsZero() {
			t.Fatal("book without time accepted")
		}
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
