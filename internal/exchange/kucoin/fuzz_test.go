package kucoin

import (
	"testing"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

func FuzzParse(f *testing.F) {
	exchangetest.Fuzz(f, exchangetest.FuzzConfig{
		Exchange: ID, Testdata: []string{"symbols.json", "allTickers.json"},
		Markets: ParseMarkets, Ticker: ParseTicker,
		Tickers: func(b []byte) ([]market.Ticker, error) {
			return ParseAllTickers(b, func(string) (market.Symbol, bool) { return "BTC/USDT", true })
		},
		OrderBook: ParseOrderBook, Candles: ParseOHLCV, Trades: ParseTrades,
	})
}
