package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/quality"
	"github.com/mdingest/mdingest/internal/replay"
	"github.com/mdingest/mdingest/internal/replay/replaytest"
	"github.com/mdingest/mdingest/internal/store"
	"github.com/mdingest/mdingest/internal/writer"
)

// TestGapFillJobRestoresMissingCandles: the daemon's gap-fill job finds
// the holes in recent candles and fills them from the exchange, and closes
// candles left open, on both backends.
func TestGapFillJobRestoresMissingCandles(t *testing.T) {
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			srv := replaytest.NewServer(t, replay.Options{RateLimits: map[string]bool{"binance": false}}, nil)

			url := b.MigratedDB(t)
			st, err := store.Open(ctx, url, store.Options{})
			require.NoError(t, err)
			defer st.Close()
			db := pgtest.Pool(t, url)

			cfg := config.Default()
			ex := cfg.Exchanges["binance"]
			ex.BaseURL = srv.URL + "/binance"
			cfg.Exchanges["binance"] = ex
			c, err := NewClient(cfg, "binance", ClientDeps{})
			require.NoError(t, err)
			defer c.HTTP.Close()

			// Store six hours of BTC/USDT candles as served, then cut two holes
			// and leave three candles open, as the old candle job did.
			end := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
			start := end.Add(-6 * time.Hour)
			var all []market.Candle
			for since := start; since.Before(end); since = since.Add(1000 * time.Minute) {
				cs, err := c.OHLCV(ctx, "BTC/USDT", market.TF1m, since, 1000)
				require.NoError(t, err)
				for _, x := range cs {
					if x.Time.Before(end) {
						x.Closed = true
						all = append(all, x)
					}
				}
			}
			require.Len(t, all, 360)
			final := all[100]
			for _, i := range []int{100, 101, 200} {
				all[i].Closed = false
				all[i].Close = market.MustDecimal("1.5") // partial
			}
			_, err = st.Candles(ctx, all)
			require.NoError(t, err)
			_, err = db.Exec(ctx, `DELETE FROM market.candles WHERE (ts >= $1 AND ts < $2) OR (ts >= $3 AND ts < $4)`,
				start.Add(time.Hour), start.Add(90*time.Minute), start.Add(4*time.Hour), start.Add(4*time.Hour+time.Minute))
			require.NoError(t, err)

			checker, err := quality.NewChecker(QualityConfig(cfg))
			require.NoError(t, err)
			direct := writer.Synchronous{Store: st}
			p, err := newPipeline(cfg, "binance", c, checker, pipelineParts{sink: direct, rejects: direct, candles: st})
			require.NoError(t, err)
			g := gapFiller{st: st, client: c, checks: p, symbols: []market.Symbol{"BTC/USDT"}, tfs: []market.Timeframe{market.TF1m}, window: 7 * time.Hour}
			_, err = g.run(ctx)
			require.NoError(t, err)
			count := func(sql string, args ...any) int {
				t.Helper()
				var n int
				require.NoError(t, db.QueryRow(ctx, sql, args...).Scan(&n))
				return n
			}
			require.Equal(t, 360, count(`SELECT count(*) FROM market.candles WHERE ts >= $1 AND ts < $2`, start, end),
				"both holes refilled with what the exchange serves, nothing else")
			require.Zero(t, count(`SELECT count(*) FROM market.candles WHERE NOT closed`), "the open candles fetched again and closed")
			require.Equal(t, 1, count(`SELECT count(*) FROM market.candles WHERE ts = $1 AND close = $2`, final.Time, final.Close.String()),
				"with the exchange's final values")
			require.Zero(t, count(`SELECT count(*) FROM market.candles WHERE ts < $1`, start),
				"the hour before the first candle is history for a backfill, not a hole")
			require.Equal(t, 4, count(`SELECT count(*) FROM ops.quality_reports WHERE data_type = 'ohlcv:1m'`),
				"a quality report for each page: two holes, two runs of open candles")
		})
	}
}
