package bybit

import (
	"testing"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

func FuzzParse(f *testing.F) {
	exchangetest.Fuzz(f, exchangetest.FuzzConfig{
		Exchange: ID, Testdata: []string{"instruments-spot.json", "tickers-spot.json"},
		Seeds:   []string{`{"retCode":0,"result":{"list":[["1","2"]]}}`},
		Markets: parseMarkets,
		Tickers: func(b []byte) ([]market.Ticker, error) {
			return parseTickers(b, func(id string) (market.Symbol, bool) { return market.Symbol(id + "/X"), id != "" })
		},
		OrderBook: func(b []byte) (market.OrderBook, error) { return parseOrderBook(b, 0) },
		Candles:   parseCandles, Trades: parseTrades, BookTime: true,
	})
}
