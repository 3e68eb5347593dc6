package quality

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
)

// bytesource turns fuzz input into choices; it returns zeros once exhausted.
type bytesource struct{ b []byte }

func (s *bytesource) next() int {
	if len(s.b) == 0 {
		return 0
	}
	v := int(s.b[0])
	s.b = s.b[1:]
	return v
}

func (s *bytesource) pick(n int) int { return s.next() % n }

var fuzzDecimals = []string{"", "0", "0.000", "-1", "1", "1.5", "99.99", "100", "100.0", "100.00000000000000001", "101", "1e400", "1e-30", "12345678901234567890"}

func (s *bytesource) dec() market.Decimal { return dec(fuzzDecimals[s.pick(len(fuzzDecimals))]) }

func (s *bytesource) time() time.Time {
	switch s.pick(8) {
	case 0:
		return time.Time{}
	case 1:
		return now.Add(time.Duration(s.next()) * time.Hour) // future
	}
	return now.Add(-time.Duration(s.next()*37) * time.Second)
}

func (s *bytesource) exchange() string { return []string{"", "binance", "kraken"}[s.pick(3)] }

func (s *bytesource) symbol() market.Symbol {
	return []market.Symbol{"", "BTC/USDT", "ETH/BTC"}[s.pick(3)]
}

func (s *bytesource) levels() []market.Level {
	out := make([]market.Level, s.pick(5))
	for i := range out {
		out[i] = market.Level{Price: s.dec(), Amount: s.dec()}
	}
	return out
}

func requireSane[T any](t *testing.T, c *Checker, n int, res Result[T]) {
	t.Helper()
	require.Equal(t, n, len(res.Accepted)+len(res.Rejected))
	rows := 0
	passed := true
	for _, rep := range res.Reports {
		rows += rep.Rows
		ok := true
		for _, m := range Metrics() {
			v := rep.Get(m)
			require.True(t, v >= 0 && v <= 1, "%s = %v", m, v)
			ok = ok && v >= c.cfg.Thresholds.Get(m)
		}
		require.True(t, rep.Score >= 0 && rep.Score <= 1, "score %v", rep.Score)
		require.Equal(t, ok, rep.Passed)
		passed = passed && ok
	}
	require.Equal(t, n, rows)
	require.Equal(t, passed, res.Passed())
	for _, r := range res.Rejected {
		require.NotEmpty(t, r.Check)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte("random batches never panic, and metrics stay in [0, 1]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newChecker(t)
		s := &bytesource{b: data}
		for len(s.b) > 0 {
			n := s.pick(30)
			switch s.pick(4) {
			case 0:
				batch := make([]market.Ticker, n)
				for i := range batch {
					batch[i] = market.Ticker{
						Exchange: s.exchange(), Symbol: s.symbol(), Time: s.time(),
						Bid: s.dec(), Ask: s.dec(), Last: s.dec(), High: s.dec(), Low: s.dec(), BaseVolume: s.dec(),
					}
				}
				requireSane(t, c, n, c.CheckTickers(batch, now, time.Duration(s.next())*time.Second))
			case 1:
				batch := make([]market.OrderBook, n)
				for i := range batch {
					batch[i] = market.OrderBook{Exchange: s.exchange(), Symbol: s.symbol(), Time: s.time(), Bids: s.levels(), Asks: s.levels()}
				}
				requireSane(t, c, n, c.CheckOrderBooks(batch, now, time.Duration(s.next())*time.Second))
			case 2:
				batch := make([]market.Candle, n)
				tfs := []market.Timeframe{"", "1m", "1h", "1d", "2m"}
				for i := range batch {
					batch[i] = market.Candle{
						Exchange: s.exchange(), Symbol: s.symbol(), Timeframe: tfs[s.pick(len(tfs))], Time: s.time(),
						Open: s.dec(), High: s.dec(), Low: s.dec(), Close: s.dec(), Volume: s.dec(),
					}
				}
				requireSane(t, c, n, c.CheckCandles(batch, now, time.Duration(s.next())*time.Minute))
			case 3:
				batch := make([]market.Trade, n)
				for i := range batch {
					batch[i] = market.Trade{
						Exchange: s.exchange(), Symbol: s.symbol(), ID: []string{"", "1", "2"}[s.pick(3)], Time: s.time(),
						Side: []market.Side{"", "buy", "sell", "x"}[s.pick(4)], Price: s.dec(), Amount: s.dec(),
					}
				}
				requireSane(t, c, n, c.CheckTrades(batch, now, time.Duration(s.next())*time.Second))
			}
		}
	})
}
