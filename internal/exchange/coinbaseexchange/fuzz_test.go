package coinbaseexchange

import (
	"testing"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

func FuzzParse(f *testing.F) {
	exchangetest.Fuzz(f, exchangetest.FuzzConfig{
		Exchange: ID, Testdata: []string{"products.json", "book-level2.json"},
		Seeds:   []string{`[[1710327600,1,2,3,4,5]]`},
		Markets: parseMarkets, Ticker: parseTicker,
		OrderBook: func(b []byte) (market.OrderBook, error) { return parseOrderBook(b, 0) },
		Candles:   parseCandles, Trades: parseTrades,
	})
}
