package schema_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/schema"
	"github.com/mdingest/mdingest/internal/store"
)

const day = 24 * time.Hour

// hourlyTickers stores a ticker every hour from ten days before today's
// midnight up to now, through the loader, and returns today's midnight
// (UTC): the tickers' one-day chunks start at UTC midnights.
func hourlyTickers(t *testing.T, s *store.Store) time.Time {
	t.Helper()
	now := time.Now().UTC()
	today := now.Truncate(day)
	var rows []market.Ticker
	for ts := today.Add(-10 * day); ts.Before(now); ts = ts.Add(time.Hour) {
		rows = append(rows, market.Ticker{Exchange: "binance", Symbol: "BTC/USDT", Time: ts, Last: market.MustDecimal("1.5")})
	}
	r, err := s.Tickers(context.Background(), rows)
	require.NoError(t, err)
	require.Equal(t, len(rows), r.Inserted)
	return today
}

func chunks(t *testing.T, db *pgxpool.Pool) int {
	t.Helper()
	return count(t, db, `SELECT count(*) FROM show_chunks('market.tickers')`)
}

// TestApplyRetention: ops.apply_retention works on both backends. On
// TimescaleDB it drops whole chunks older than the age and returns how many:
// the chunk the cut-off falls in is kept whole, older rows included. On
// plain PostgreSQL it deletes exactly the older rows and returns how many.
func TestApplyRetention(t *testing.T) {
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := b.MigratedDB(t)
			s := openStore(t, url)
			db := pgtest.Pool(t, url)
			today := hourlyTickers(t, s)
			total := count(t, db, `SELECT count(*) FROM market.tickers`)
			// The cut-off falls at 12:30, five days ago: inside that day's chunk.
			cutoff := today.Add(-5*day + 12*time.Hour + 30*time.Minute)
			older := count(t, db, `SELECT count(*) FROM market.tickers WHERE ts < $1`, cutoff)
			require.Equal(t, 5*24+13, older)
			if b.Variant == schema.TimescaleDB {
				require.Equal(t, 11, chunks(t, db), "one a day")
			}

			var n int
			require.NoError(t, db.QueryRow(ctx, `SELECT ops.apply_retention('market.tickers', $1)`, time.Since(cutoff)).Scan(&n))
			left := count(t, db, `SELECT count(*) FROM market.tickers`)
			var first time.Time
			require.NoError(t, db.QueryRow(ctx, `SELECT min(ts) FROM market.tickers`).Scan(&first))
			if b.Variant == schema.TimescaleDB {
				require.Equal(t, 5, n, "the chunks of the five whole days before the cut-off's day")
				require.Equal(t, 6, chunks(t, db)) // that day's, four more and today's
				require.True(t, first.Equal(today.Add(-5*day)), "the chunk holding the cut-off is kept whole, from %s", first)
				require.Equal(t, total-5*24, left)
			} else {
				require.Equal(t, older, n)
				require.Equal(t, total-older, left)
				require.False(t, first.Before(cutoff))
			}

			_, err := db.Exec(ctx, `SELECT ops.apply_retention('market.symbols', interval '1 day')`)
			require.Error(t, err, "only time-keyed tables")
		})
	}
}

// TestRetentionPolicy: the retention age configured under store.retention
// becomes TimescaleDB's policy, and its job drops the chunks wholly older
// than the age when it runs.
func TestRetentionPolicy(t *testing.T) {
	ctx := context.Background()
	url := pgtest.TimescaleMigratedDB(t)
	require.NoError(t, schema.ApplyPolicies(ctx, url, schema.Policies{Retention: map[string]time.Duration{"tickers": 5 * day}}))
	s := openStore(t, url)
	db := pgtest.Pool(t, url)
	var job int
	require.NoError(t, db.QueryRow(ctx, `SELECT job_id FROM timescaledb_information.jobs
WHERE proc_name = 'policy_retention' AND hypertable_schema = 'market' AND hypertable_name = 'tickers' AND config->>'drop_after' = '5 days'`).Scan(&job))
	// A new policy's first run is due at once: hold the scheduler off, so
	// the rows are all there before the test runs the job itself.
	_, err := db.Exec(ctx, `SELECT alter_job($1, scheduled => false)`, job)
	require.NoError(t, err)
	today := hourlyTickers(t, s)
	total := count(t, db, `SELECT count(*) FROM market.tickers`)
	require.Equal(t, 11, chunks(t, db))

	_, err = db.Exec(ctx, `CALL run_job($1)`, job)
	require.NoError(t, err)

	// now - 5 days falls inside the chunk of five days ago: it stays.
	require.Equal(t, 6, chunks(t, db))
	var first time.Time
	require.NoError(t, db.QueryRow(ctx, `SELECT min(ts) FROM market.tickers`).Scan(&first))
	require.True(t, first.Equal(today.Add(-5*day)), "from %s", first)
	require.Equal(t, total-5*24, count(t, db, `SELECT count(*) FROM market.tickers`))
}
