package backfill_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/market"
)

// BenchmarkFindGaps finds 100 holes in two years of 1m candles of one
// symbol (about a million rows): one pass over the primary key's index.
// Reported: rows scanned per second.
func BenchmarkFindGaps(b *testing.B) {
	from, to := day("2022-01-01T00:00:00Z"), day("2024-01-01T00:00:00Z")
	e := newEnv(b, day("2025-01-01T00:00:00Z"))
	ctx := context.Background()
	db := e.db
	_, err := db.Exec(ctx, `INSERT INTO market.candles (exchange, symbol, timeframe, ts, open, high, low, close, volume, closed)
SELECT 'binance', 'BTC/USDT', '1m', ts, 1, 2, 0.5, 1.5, 10, true
FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 minute', interval '1 minute') AS ts
WHERE (extract(epoch FROM ts)::bigint / 60) % 10000 <> 17`, from, to)
	require.NoError(b, err)
	_, err = db.Exec(ctx, `VACUUM ANALYZE market.candles`)
	require.NoError(b, err)
	rows := int(to.Sub(from) / time.Minute)
	q := backfill.GapQuery{Exchange: "binance", Timeframe: market.TF1m, From: from, To: to}
	b.ResetTimer()
	for b.Loop() {
		gaps, err := backfill.FindGaps(ctx, e.store, q)
		require.NoError(b, err)
		require.Len(b, gaps, rows/10000+1)
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
