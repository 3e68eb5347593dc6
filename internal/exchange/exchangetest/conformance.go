package exchangetest

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
)

// Config tells the conformance suite what the fake's routes answer for.
type Config struct {
	// Symbol is a symbol that the fake's routes answer for and that the
	// markets route lists.
	Symbol market.Symbol
	// Depth requested from OrderBook; 0 uses 5.
	Depth int
}

// bitcoinEra: no exchange sent data before it, so earlier times are misparsed units.
var bitcoinEra = time.Date(2009, 1, 3, 0, 0, 0, 0, time.UTC)

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// Run checks the invariants every connector must hold. conn must be built on
// fake, whose routes answer every endpoint with a recorded response for
// cfg.Symbol (markets included). Run changes the fake's answers and resets
// it when done.
func Run(t *testing.T, conn exchange.Connector, fake *Requester, cfg Config) {
	t.Helper()
	if cfg.Depth == 0 {
		cfg.Depth = 5
	}
	ctx := context.Background()
	id := conn.ID()
	require.Regexp(t, idPattern, id, "ID must be CCXT's lower-case id")

	t.Run("capabilities", func(t *testing.T) {
		c := conn.Capabilities()
		require.Positive(t, c.MaxCandles)
		require.Positive(t, c.MaxTrades)
		require.Positive(t, c.MaxDepth)
	})

	t.Run("markets", func(t *testing.T) {
		ms, err := conn.Markets(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, ms)
		seen := map[market.Symbol]bool{}
		found := false
		for _, m := range ms {
			requireUnified(t, m.Symbol)
			require.Equal(t, market.NewSymbol(m.Base, m.Quote), m.Symbol)
			require.NotEmpty(t, m.ID, "market %s has no exchange id", m.Symbol)
			require.Equal(t, id, m.Exchange)
			require.False(t, seen[m.Symbol], "duplicate market %s", m.Symbol)
			seen[m.Symbol] = true
			found = found || m.Symbol == cfg.Symbol
		}
		require.True(t, found, "markets do not list %s", cfg.Symbol)
	})

	t.Run("tickers", func(t *testing.T) {
		for _, syms := range [][]market.Symbol{nil, {cfg.Symbol}} {
			ts, err := conn.Tickers(ctx, syms)
			require.NoError(t, err)
			require.NotEmpty(t, ts)
			for _, tk := range ts {
				requireUnified(t, tk.Symbol)
				require.Equal(t, id, tk.Exchange)
				require.NotEmpty(t, tk.ExchangeSymbol)
				requireTime(t, tk.Time, true)
				for _, d := range []market.Decimal{tk.Bid, tk.BidVolume, tk.Ask, tk.AskVolume, tk.Last, tk.Open, tk.High, tk.Low, tk.Close, tk.VWAP, tk.BaseVolume, tk.QuoteVolume} {
					requireDecimal(t, d, true)
				}
				if syms != nil {
					require.Equal(t, cfg.Symbol, tk.Symbol, "asked for one symbol, got another")
				}
			}
		}
	})

	t.Run("orderbook", func(t *testing.T) {
		b, err := conn.OrderBook(ctx, cfg.Symbol, cfg.Depth)
		require.NoError(t, err)
		require.Equal(t, cfg.Symbol, b.Symbol)
		require.Equal(t, id, b.Exchange)
		require.NotEmpty(t, b.ExchangeSymbol)
		requireTime(t, b.Time, true)
		require.NotEmpty(t, b.Bids)
		require.NotEmpty(t, b.Asks)
		require.LessOrEqual(t, len(b.Bids), cfg.Depth)
		require.LessOrEqual(t, len(b.Asks), cfg.Depth)
		for i, l := range b.Bids {
			requireDecimal(t, l.Price, false)
			requireDecimal(t, l.Amount, false)
			if i > 0 {
				require.Equal(t, 1, b.Bids[i-1].Price.Cmp(l.Price), "bids not descending at %d", i)
			}
		}
		for i, l := range b.Asks {
			requireDecimal(t, l.Price, false)
			requireDecimal(t, l.Amount, false)
			if i > 0 {
				require.Equal(t, -1, b.Asks[i-1].Price.Cmp(l.Price), "asks not ascending at %d", i)
			}
		}
	})

	t.Run("ohlcv", func(t *testing.T) {
		for _, tf := range market.Timeframes() {
			cs, err := conn.OHLCV(ctx, cfg.Symbol, tf, time.Time{}, 0)
			require.NoError(t, err, tf)
			require.NotEmpty(t, cs, tf)
			for i, c := range cs {
				require.Equal(t, cfg.Symbol, c.Symbol)
				require.Equal(t, id, c.Exchange)
				require.Equal(t, tf, c.Timeframe)
				requireTime(t, c.Time, false)
				for _, d := range []market.Decimal{c.Open, c.High, c.Low, c.Close, c.Volume} {
					requireDecimal(t, d, false)
				}
				if i > 0 {
					require.True(t, cs[i-1].Time.Before(c.Time), "candles not oldest first at %d", i)
				}
			}
			limited, err := conn.OHLCV(ctx, cfg.Symbol, tf, time.Time{}, 1)
			require.NoError(t, err)
			require.Len(t, limited, 1, "limit 1 must return one candle")
		}
	})

	t.Run("trades", func(t *testing.T) {
		ts, err := conn.Trades(ctx, cfg.Symbol, time.Time{}, 0)
		require.NoError(t, err)
		require.NotEmpty(t, ts)
		for i, tr := range ts {
			require.Equal(t, cfg.Symbol, tr.Symbol)
			require.Equal(t, id, tr.Exchange)
			require.NotEmpty(t, tr.ExchangeSymbol)
			require.NotEmpty(t, tr.ID, "trade ids key the trades table")
			requireTime(t, tr.Time, false)
			require.Contains(t, []market.Side{market.SideBuy, market.SideSell, market.SideUnknown}, tr.Side)
			requireDecimal(t, tr.Price, false)
			requireDecimal(t, tr.Amount, false)
			if i > 0 {
				require.False(t, tr.Time.Before(ts[i-1].Time), "trades not oldest first at %d", i)
			}
		}
	})

	t.Run("requests", func(t *testing.T) {
		for _, r := range fake.Requests() {
			require.NotEmpty(t, r.Endpoint, "request %s has no endpoint label", r.Path)
			require.Regexp(t, `^/`, r.Path)
			require.GreaterOrEqual(t, r.Weight, 0)
		}
	})

	t.Run("unknown symbol", func(t *testing.T) {
		_, err := conn.Markets(ctx) // the index decides what is unknown
		require.NoError(t, err)
		unknown := market.Symbol("NOSUCHCOIN/NOSUCHQUOTE")
		_, err = conn.OrderBook(ctx, unknown, 0)
		require.ErrorIs(t, err, exchange.ErrUnknownSymbol)
		_, err = conn.OHLCV(ctx, unknown, market.TF1m, time.Time{}, 0)
		require.ErrorIs(t, err, exchange.ErrUnknownSymbol)
		_, err = conn.Trades(ctx, unknown, time.Time{}, 0)
		require.ErrorIs(t, err, exchange.ErrUnknownSymbol)
		_, err = conn.Tickers(ctx, []market.Symbol{unknown})
		require.ErrorIs(t, err, exchange.ErrUnknownSymbol)
	})

	t.Run("malformed bodies", func(t *testing.T) {
		defer fake.Reset()
		calls := map[string]func() error{
			"markets":   func() error { _, err := conn.Markets(ctx); return err },
			"tickers":   func() error { _, err := conn.Tickers(ctx, nil); return err },
			"ticker":    func() error { _, err := conn.Tickers(ctx, []market.Symbol{cfg.Symbol}); return err },
			"orderbook": func() error { _, err := conn.OrderBook(ctx, cfg.Symbol, cfg.Depth); return err },
			"ohlcv":     func() error { _, err := conn.OHLCV(ctx, cfg.Symbol, market.TF1m, time.Time{}, 0); return err },
			"trades":    func() error { _, err := conn.Trades(ctx, cfg.Symbol, time.Time{}, 0); return err },
		}
		for _, body := range []string{`{"truncated": [`, `"a string"`, `[{"x": 1}`, `12`} {
			fake.AnswerAll([]byte(body))
			for name, call := range calls {
				err := call()
				var de *exchange.DecodeError
				require.Truef(t, errors.As(err, &de), "%s with body %s: want *exchange.DecodeError, got %v", name, body, err)
				require.Equal(t, body, string(de.Payload), "%s: DecodeError must keep the payload", name)
				require.Equal(t, id, de.Exchange)
				require.NotEmpty(t, de.Endpoint)
			}
		}
	})
}

func requireUnified(t *testing.T, s market.Symbol) {
	t.Helper()
	p, err := market.ParseSymbol(string(s))
	require.NoError(t, err)
	require.Equal(t, p, s, "symbol not in unified form")
}

// requireTime checks a time is UTC and plausible; optional times may be zero.
func requireTime(t *testing.T, ts time.Time, optional bool) {
	t.Helper()
	if ts.IsZero() {
		require.True(t, optional, "time missing")
		return
	}
	require.Equal(t, time.UTC, ts.Location(), "time not UTC")
	require.True(t, ts.After(bitcoinEra), "time %s before 2009: wrong unit?", ts)
	require.True(t, ts.Before(time.Now().Add(48*time.Hour)), "time %s in the future: wrong unit?", ts)
}

func requireDecimal(t *testing.T, d market.Decimal, optional bool) {
	t.Helper()
	if !d.Valid() {
		require.True(t, optional, "decimal missing")
		return
	}
	_, err := market.ParseDecimal(d.String())
	require.NoError(t, err)
	require.NotNil(t, d.Rat())
}
