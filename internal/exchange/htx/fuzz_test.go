package htx

import (
	"testing"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

func FuzzParse(f *testing.F) {
	exchangetest.Fuzz(f, exchangetest.FuzzConfig{
		Exchange: ID, Testdata: []string{"symbols.json", "tickers.json", "depth.json"},
		Markets: ParseMarkets, Ticker: ParseTicker,
		Tickers: func(b []byte) ([]market.Ticker, error) {
			return ParseTickers(b, func(string) (market.Symbol, bool) { return "BTC/USDT", true })
		},
		OrderBook: ParseOrderBook, Candles: ParseOHLCV, Trades: ParseTrades,
	})
}
