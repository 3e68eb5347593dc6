package exchangetest

import (
	"encoding/json"
	"testing"

	"github.com/mdingest/mdingest/internal/market"
)

// FuzzConfig is one exchange's parsers and the corpus they start from,
// beside every recorded response of its fixture. Each parser takes a
// whole body; nil ones are left out.
type FuzzConfig struct {
	Testdata []string // files of the calling package's testdata that seed it
	Seeds    []string // more bodies (the docs' examples, shapes found by fuzzing)

	Markets   func([]byte) ([]market.Market, error)
	Ticker    func([]byte) (market.Ticker, error)   // one ticker, its symbol set by the caller
	Tickers   func([]byte) ([]market.Ticker, error) // many, each naming its symbol
	OrderBook func([]byte) (market.OrderBook, error)
	Candles   func([]byte) ([]market.Candle, error)
	Trades    func([]byte) ([]market.Trade, error)
	// BookTime says the exchange always sends its books' time: a book
	// without one is malformed.
	BookTime bool
}

// Fuzz feeds arbitrary bodies to every parser of s.Parsers: none may
// panic or accept a body that is not JSON, and what one accepts is well
// formed: unified symbols, valid decimals, priced levels, candles and
// trades with a time (and trades an id), oldest first.
func (s Suite) Fuzz(f *testing.F) {
	f.Helper()
	cfg := s.Parsers
	for _, c := range s.Fixture(f).Cases {
		if c.HasResponse() {
			f.Add([]byte(c.HTTPResponse))
		}
	}
	for _, name := range cfg.Testdata {
		f.Add([]byte(ReadTestdata(f, name)))
	}
	for _, body := range cfg.Seeds {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if cfg.Markets != nil {
			ms, err := cfg.Markets(body)
			checkMalformed(t, "markets", body, err)
			for _, m := range ms {
				if _, err := market.ParseSymbol(string(m.Symbol)); err != nil {
					t.Fatalf("market %q: %v", m.Symbol, err)
				}
			}
		}
		if cfg.Ticker != nil {
			tk, err := cfg.Ticker(body)
			checkMalformed(t, "ticker", body, err)
			if err == nil {
				checkTicker(t, tk)
			}
		}
		if cfg.Tickers != nil {
			ts, err := cfg.Tickers(body)
			checkMalformed(t, "tickers", body, err)
			for _, tk := range ts {
				if tk.Symbol == "" {
					t.Fatalf("ticker without symbol: %+v", tk)
				}
				checkTicker(t, tk)
			}
		}
		if cfg.OrderBook != nil {
			b, err := cfg.OrderBook(body)
			checkMalformed(t, "order book", body, err)
			if err == nil {
				checkBook(t, b, cfg.BookTime)
			}
		}
		if cfg.Candles != nil {
			cs, err := cfg.Candles(body)
			checkMalformed(t, "candles", body, err)
			for i, c := range cs {
				if c.Time.IsZero() || !c.Close.Valid() || i > 0 && c.Time.Before(cs[i-1].Time) {
					t.Fatalf("bad candle %d: %+v", i, c)
				}
			}
		}
		if cfg.Trades != nil {
			ts, err := cfg.Trades(body)
			checkMalformed(t, "trades", body, err)
			for i, tr := range ts {
				if tr.ID == "" || tr.Time.IsZero() || !tr.Price.Valid() || i > 0 && tr.Time.Before(ts[i-1].Time) {
					t.Fatalf("bad trade %d: %+v", i, tr)
				}
			}
		}
	})
}

// checkMalformed fails when a body that is not JSON parsed without error.
func checkMalformed(t *testing.T, parser string, body []byte, err error) {
	t.Helper()
	if err == nil && !json.Valid(body) {
		t.Fatalf("%s: malformed body accepted: %q", parser, body)
	}
}

// checkTicker requires every decimal a ticker has to be a number.
func checkTicker(t *testing.T, tk market.Ticker) {
	t.Helper()
	for _, d := range []market.Decimal{tk.Bid, tk.BidVolume, tk.Ask, tk.AskVolume, tk.Last, tk.Open, tk.High, tk.Low, tk.Close, tk.VWAP, tk.BaseVolume, tk.QuoteVolume} {
		if d.Valid() && d.Rat() == nil {
			t.Fatalf("invalid decimal accepted: %+v", tk)
		}
	}
}

// checkBook requires a price and an amount on every level, and the time
// where the exchange always sends it.
func checkBook(t *testing.T, b market.OrderBook, timed bool) {
	t.Helper()
	if timed && b.Time.IsZero() {
		t.Fatal("book without time accepted")
	}
	for _, l := range append(b.Bids, b.Asks...) {
		if !l.Price.Valid() || !l.Amount.Valid() {
			t.Fatalf("level with absent values accepted: %+v", l)
		}
	}
}
