package bitstamp

import (
	"testing"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

func FuzzParse(f *testing.F) {
	exchangetest.Fuzz(f, exchangetest.FuzzConfig{
		Exchange: ID, Testdata: []string{"markets.json", "tickers.json", "order_book.json"},
		Seeds:   []string{`{"microtimestamp":"1","bids":[["1","2"]],"asks":[]}`},
		Markets: parseMarkets, Ticker: parseTicker,
		Tickers: func(b []byte) ([]market.Ticker, error) {
			return parseTickers(b, func(market.Symbol) bool { return true })
		},
		OrderBook: func(b []byte) (market.OrderBook, error) { return parseOrderBook(b, 0) },
		Candles:   parseCandles, Trades: parseTrades, BookTime: true,
	})
}
