package kraken

import (
	"testing"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/market"
)

func FuzzParse(f *testing.F) {
	exchangetest.Fuzz(f, exchangetest.FuzzConfig{
		Exchange: ID, Testdata: []string{"assetpairs.json", "tickers.json", "depth.json"},
		Markets: ParseMarkets,
		Tickers: func(b []byte) ([]market.Ticker, error) {
			return ParseTickers(b, func(string) (market.Market, bool) { return market.Market{ID: "X", Symbol: "BTC/USD"}, true })
		},
		OrderBook: ParseOrderBook, Candles: ParseOHLCV, Trades: ParseTrades,
	})
}
