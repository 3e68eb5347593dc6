package kucoin

import (
	"testing"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

// FuzzParse feeds arbitrary bodies to every parser: no panic, and a parser
// either fails or returns well-formed values.
func FuzzParse(f *testing.F) {
	exchangetest.Seed(f, ID, "symbols.json", "allTickers.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		if ms, err := ParseMarkets(body); err == nil {
			exchangetest.CheckMarkets(t, ms)
		}
		_, _ = ParseTicker(body)
		_, _ = ParseAllTickers(body, func(string) (market.Symbol, bool) { return "BTC/USDT", true })
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
