package schema_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/schema"
	"github.com/mdingest/mdingest/internal/store"
)

// openStore opens the product's loader on url.
func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url, store.Options{})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// minuteCandles are the 1m candles of one stream from from up to the
// current minute, the last one still open; prices move with the minute so
// that first, last, max and min each pick a different row.
func minuteCandles(exchange, symbol string, from, now time.Time, base int) []market.Candle {
	var out []market.Candle
	last := now.Truncate(time.Minute)
	for ts, i := from, 0; !ts.After(last); ts, i = ts.Add(time.Minute), i+1 {
		p := base + (i*37)%101
		out = append(out, market.Candle{Exchange: exchange, Symbol: market.Symbol(symbol), Timeframe: market.TF1m, Time: ts,
			Open: market.MustDecimal(fmt.Sprintf("%d.%02d", p, i%100)), High: market.MustDecimal(fmt.Sprintf("%d.5", p+7)),
			Low: market.MustDecimal(fmt.Sprintf("%d.25", p-3)), Close: market.MustDecimal(fmt.Sprintf("%d.%02d", p+1, (i*7)%100)),
			Volume: market.MustDecimal(fmt.Sprintf("%d.%03d", i%13, i%1000)), Closed: ts.Before(last)})
	}
	return out
}

// groupBy is the aggregate computed from the raw 1m rows with plain
// PostgreSQL (date_bin from a UTC origin buckets as time_bucket does).
const groupBy = `SELECT exchange, symbol, date_bin(%[1]s, ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
	((array_agg(open ORDER BY ts))[1])::text, max(high)::text, min(low)::text,
	((array_agg(close ORDER BY ts DESC))[1])::text, sum(volume)::text, count(*)
FROM market.candles WHERE timeframe = '1m' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`

const fromView = `SELECT exchange, symbol, bucket, open::text, high::text, low::text, close::text, volume::text, candles
FROM %s ORDER BY 1, 2, 3`

func rowsOf(t *testing.T, db *pgxpool.Pool, sql string) [][]any {
	t.Helper()
	rows, err := db.Query(context.Background(), sql)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
	require.NoError(t, err, sql)
	return out
}

// requireAggregates checks both aggregates against a GROUP BY of the raw rows.
func requireAggregates(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	for view, width := range map[string]string{"market.candles_1h": "INTERVAL '1 hour'", "market.candles_1d": "INTERVAL '1 day'"} {
		want := rowsOf(t, db, fmt.Sprintf(groupBy, width))
		require.NotEmpty(t, want)
		require.Equal(t, want, rowsOf(t, db, fmt.Sprintf(fromView, view)), view)
	}
}

// refreshPolicy runs the refresh policy of a continuous aggregate now, as
// TimescaleDB's scheduler does, and returns the materialisation watermark
// after it: buckets before it are read from the materialisation, those from
// it on are computed from the raw rows at query time.
func refreshPolicy(t *testing.T, db *pgxpool.Pool, view string) time.Time {
	t.Helper()
	ctx := context.Background()
	var job int
	require.NoError(t, db.QueryRow(ctx, `SELECT job_id FROM timescaledb_information.jobs
WHERE proc_name = 'policy_refresh_continuous_aggregate' AND hypertable_schema = 'market' AND hypertable_name = $1`, view).Scan(&job))
	_, err := db.Exec(ctx, `CALL run_job($1)`, job)
	require.NoError(t, err)
	var mark time.Time
	require.NoError(t, db.QueryRow(ctx, `SELECT _timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(mat_hypertable_id))
FROM _timescaledb_catalog.continuous_agg WHERE user_view_schema = 'market' AND user_view_name = $1`, view).Scan(&mark))
	return mark
}

// materialised counts the rows a continuous aggregate holds materialised.
func materialised(t *testing.T, db *pgxpool.Pool, view string) int {
	t.Helper()
	var table string
	require.NoError(t, db.QueryRow(context.Background(), `SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)
FROM timescaledb_information.continuous_aggregates WHERE view_schema = 'market' AND view_name = $1`, view).Scan(&table))
	var n int
	require.NoError(t, db.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
	return n
}

// TestCandleAggregates: candles_1h and candles_1d equal a GROUP BY of the
// 1m candles the loader wrote. On TimescaleDB they are real-time continuous
// aggregates: after their refresh policies run, the older buckets come from
// the materialisation and the newest from the raw rows, and both agree;
// rows written after a refresh (an open candle's update, a late backfill)
// are in them after the next one.
func TestCandleAggregates(t *testing.T) {
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := b.MigratedDB(t)
			s := openStore(t, url)
			db := pgtest.Pool(t, url)
			now := time.Now().UTC()
			// From two days back: within both policies' refresh windows
			// (3 days for 1h, 7 for 1d), so after the refresh only the newest
			// hour or two of 1h, and the last two days of 1d, are real-time.
			from := now.Truncate(24 * time.Hour).Add(-2 * 24 * time.Hour)
			btc := minuteCandles("binance", "BTC/USDT", from, now, 60000)
			for _, batch := range [][]market.Candle{btc, minuteCandles("binance", "ETH/USDT", from, now, 3000),
				minuteCandles("kraken", "BTC/USDT", from.Add(90*time.Minute), now, 60010)} {
				_, err := s.Candles(ctx, batch)
				require.NoError(t, err)
			}
			// Hourly candles beside them are not aggregated.
			hourly := btc[0]
			hourly.Timeframe, hourly.Volume = market.TF1h, market.MustDecimal("999")
			_, err := s.Candles(ctx, []market.Candle{hourly})
			require.NoError(t, err)
			requireAggregates(t, db)

			if b.Variant == schema.TimescaleDB {
				markH, markD := refreshPolicy(t, db, "candles_1h"), refreshPolicy(t, db, "candles_1d")
				for view, mark := range map[string]time.Time{"candles_1h": markH, "candles_1d": markD} {
					require.True(t, mark.After(from), "%s materialised up to %s", view, mark)
					require.Positive(t, materialised(t, db, view), view)
					require.Positive(t, count(t, db, `SELECT count(*) FROM market.candles WHERE ts >= $1`, mark),
						"%s: the newest rows lie past the watermark %s, read in real time", view, mark)
				}
				requireAggregates(t, db)
			}

			// After the refresh: the open candle moves on in the newest bucket,
			// and a late backfill lands in buckets already materialised.
			open := btc[len(btc)-1]
			open.Close, open.High = market.MustDecimal("70000.01"), market.MustDecimal("70000.5")
			r, err := s.Candles(ctx, []market.Candle{open})
			require.NoError(t, err)
			require.Equal(t, 1, r.Updated)
			r, err = s.Candles(ctx, minuteCandles("kraken", "ETH/USDT", from, from.Add(36*time.Hour), 3005))
			require.NoError(t, err)
			require.Positive(t, r.Inserted)
			if b.Variant == schema.TimescaleDB {
				refreshPolicy(t, db, "candles_1h")
				refreshPolicy(t, db, "candles_1d")
			}
			requireAggregates(t, db)
		})
	}
}

func count(t *testing.T, db *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}
