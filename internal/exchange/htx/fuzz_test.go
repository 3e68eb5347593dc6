package htx

import (
	"testing"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

// FuzzParse feeds arbitrary bodies to every parser: no panic, and a parser
// either fails or returns well-formed values.
func FuzzParse(f *testing.F) {
	fx := exchangetest.LoadFixture(f, ID)
	for _, c := range fx.Cases {
		if c.HasResponse() {
			f.Add([]byte(c.HTTPResponse))
		}
	}
	for _, name := range []string{"symbols.json", "tickers.json", "depth.json"} {
		f.Add([]byte(exchangetest.ReadTestdata(f, name)))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if ms, err := ParseMarkets(body); err == nil {
			for _, m := range ms {
				if _, err := market.ParseSymbol(string(m.Symbol)); err != nil {
					t.Fatalf("market %q: %v", m.Symbol, err)
				}
			}
		}
		_, _ = ParseTicker(body)
		_, _ = ParseTickers(body, func(string) (market.Symbol, bool) { return "BTC/USDT", true })
		if b, err := ParseOrderBook(body); err == nil {
			for _, l := range append(b.Bids, b.Asks...) {
				if !l.Price.Valid() || !l.Amount.Valid() {
					t.Fatal("level without price or amount")
				}
			}
		}
		if cs, err := ParseOHLCV(body); err == nil {
			for _, c := range cs {
				if c.Time.IsZero() || !c.Close.Valid() {
					t.Fatal("candle without time or close")
				}
			}
		}
		if ts, err := ParseTrades(body); err == nil {
			for _, tr := range ts {
				if tr.ID == "" || tr.Time.IsZero() || !tr.Price.Valid() {
					t.Fatal("trade without id, time or price")
				}
			}
		}
	})
}
