package okx

import (
	"testing"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

func FuzzParse(f *testing.F) {
	exchangetest.Fuzz(f, exchangetest.FuzzConfig{
		Exchange: ID, Testdata: []string{"instruments.json", "tickers.json", "history-trades.json"},
		Seeds:   []string{`{"code":"0","data":[["1","2"]]}`},
		Markets: parseMarkets, Tickers: func(b []byte) ([]market.Ticker, error) { return parseTickers(b, deriveSymbol) },
		OrderBook: func(b []byte) (market.OrderBook, error) { return parseOrderBook(b, 0) },
		Candles:   parseCandles, Trades: parseTrades, BookTime: true,
	})
}
