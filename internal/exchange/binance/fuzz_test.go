package binance

import (
	"testing"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

func seed(f *testing.F) {
	exchangetest.Seed(f, ID, "exchangeInfo.json", "tickers.json")
	f.Add([]byte(`{"truncated": [`))
}

// FuzzParse feeds arbitrary bodies to every parser: no panic, and a parser
// either fails or returns well-formed values.
func FuzzParse(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		if ms, err := ParseMarkets(body); err == nil {
			exchangetest.CheckMarkets(t, ms)
		}
		_, _ = ParseTickers(body, func(id string) (market.Symbol, bool) { return "BTC/USDT", true })
		if b, err := ParseOrderBook(body); err == nil {
			exchangetest.CheckLevels(t, b)
		}
		if cs, err := ParseOHLCV(body); err == nil {
			exchangetest.CheckCandles(t, cs, false)
		}
		if ts, err := ParseTrades(body); err == nil {
			exchangetest.CheckTrades(t, ts, false)
		}
	})
}
