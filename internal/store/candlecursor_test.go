package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/store"
)

func TestCandleCursor(t *testing.T) {
	onBackends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
		cursor := func(from, to int) ops.CandleCursor {
			t.Helper()
			c, err := s.CandleCursor(ctx, "binance", "BTC/USDT", market.TF1m, m(from), m(to))
			require.NoError(t, err)
			return c
		}
		require.Equal(t, ops.CandleCursor{}, cursor(0, 100), "an empty series")

		// What the old job left: closed, closed, open for good, ... and the
		// running minute open.
		var rows []market.Candle
		for i := range 20 {
			if i%5 < 3 {
				rows = append(rows, candle("BTC/USDT", i, "100.5", i%5 < 2))
			}
		}
		rows = append(rows, candle("BTC/USDT", 20, "100.5", false), candle("ETH/USDT", 30, "1", true))
		_, err := s.Candles(ctx, rows)
		require.NoError(t, err)

		c := cursor(0, 20)
		require.True(t, c.LastClosed.Equal(m(16)), "newest closed: %s", c.LastClosed)
		require.True(t, c.FirstOpen.Equal(m(2)), "oldest open: %s", c.FirstOpen)
		c = cursor(5, 20)
		require.True(t, c.FirstOpen.Equal(m(7)), "oldest open within the window: %s", c.FirstOpen)
		require.True(t, cursor(0, 2).FirstOpen.IsZero(), "the window ends before it")
		require.True(t, cursor(18, 20).FirstOpen.IsZero(), "the running minute is not asked for")
	})
}

func TestCoverageRecordsHoles(t *testing.T) {
	onBackends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		hole := ops.Coverage{AskedFrom: t0, AskedTo: t0.Add(time.Hour)}
		require.NoError(t, s.Coverage(ctx, "kraken", "BTC/USDT", market.TypeOHLCV, market.TF1m, []ops.Coverage{hole}))
		require.NoError(t, s.Coverage(ctx, "kraken", "BTC/USDT", market.TypeOHLCV, market.TF1m, []ops.Coverage{hole}))
		require.Equal(t, 1, count(t, s, `SELECT count(*) FROM ops.backfill_coverage
	WHERE exchange = 'kraken' AND kind = 'ohlcv' AND timeframe = '1m' AND rows = 0 AND first_ts IS NULL AND asked_to - asked_from = interval '1 hour'`))
		// A later answer for the same start replaces it.
		got := ops.Coverage{AskedFrom: t0, AskedTo: t0.Add(time.Hour), Rows: 60, First: t0, Last: t0.Add(59 * time.Minute)}
		require.NoError(t, s.Coverage(ctx, "kraken", "BTC/USDT", market.TypeOHLCV, market.TF1m, []ops.Coverage{got}))
		require.Equal(t, 1, count(t, s, `SELECT count(*) FROM ops.backfill_coverage WHERE rows = 60 AND first_ts IS NOT NULL`))
	})
}
