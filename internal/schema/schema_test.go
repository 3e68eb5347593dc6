package schema_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/schema"
)

// upDownUp runs the whole migration cycle and returns the variant used.
func upDownUp(t *testing.T, url string, mode schema.Mode) schema.Variant {
	t.Helper()
	ctx := context.Background()
	m, err := schema.Open(ctx, url, mode, nil)
	require.NoError(t, err)
	defer m.Close()
	latest, err := schema.Latest()
	require.NoError(t, err)
	require.NoError(t, m.Up())
	v, dirty, err := m.Version()
	require.NoError(t, err)
	require.False(t, dirty)
	require.Equal(t, latest, v)
	require.NoError(t, m.Up(), "no change is success")
	require.NoError(t, m.Down(0))
	v, _, err = m.Version()
	require.NoError(t, err)
	require.Zero(t, v)
	require.NoError(t, m.Up())
	return m.Variant()
}

var tables = []string{
	"market.symbols", "market.candles", "market.tickers", "market.order_books", "market.trades",
	"ops.request_metrics", "ops.quality_reports", "ops.rejected_rows", "ops.job_runs", "ops.backfill_progress",
	"ops.backfill_coverage", "market.candles_1h", "market.candles_1d",
}

func requireRelations(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	for _, tbl := range tables {
		var ok bool
		require.NoError(t, conn.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, tbl).Scan(&ok))
		require.True(t, ok, tbl)
	}
}

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestPostgres(t *testing.T) {
	url := pgtest.NewDB(t)
	require.Equal(t, schema.Postgres, upDownUp(t, url, schema.ModeAuto))
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	requireRelations(t, conn)
}

func TestTimescaleRequiredButMissing(t *testing.T) {
	url := pgtest.NewDB(t)
	_, err := schema.Open(context.Background(), url, schema.ModeOn, nil)
	require.ErrorIs(t, err, schema.ErrTimescaleRequired)
}

func TestTimescaleDB(t *testing.T) {
	url := pgtest.TimescaleDB(t)
	require.Equal(t, schema.TimescaleDB, upDownUp(t, url, schema.ModeAuto))
	ctx := context.Background()
	require.NoError(t, schema.ApplyPolicies(ctx, url, schema.Policies{
		Retention:     map[string]time.Duration{"tickers": 0, "trades": 400 * 24 * time.Hour},
		CompressAfter: map[string]time.Duration{"candles": 10 * 24 * time.Hour, "job_runs": time.Hour},
	}))

	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	requireRelations(t, conn)
	var hypertables, caggs, refresh, compression int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM timescaledb_information.hypertables`).Scan(&hypertables))
	require.Equal(t, 8, hypertables)
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM timescaledb_information.continuous_aggregates`).Scan(&caggs))
	require.Equal(t, 2, caggs)
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM timescaledb_information.jobs WHERE proc_name = 'policy_refresh_continuous_aggregate'`).Scan(&refresh))
	require.Equal(t, 2, refresh)
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'`).Scan(&compression))
	require.Equal(t, 5, compression)

	var retention []string
	rows, err := conn.Query(ctx, `SELECT hypertable_name || ':' || (config->>'drop_after') FROM timescaledb_information.jobs
		WHERE proc_name = 'policy_retention' ORDER BY 1`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		retention = append(retention, s)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"order_books:30 days", "request_metrics:30 days", "trades:400 days"}, retention,
		"tickers' policy removed, trades' added, the others kept")
	var compressAfter string
	require.NoError(t, conn.QueryRow(ctx, `SELECT config->>'compress_after' FROM timescaledb_information.jobs
		WHERE proc_name = 'policy_compression' AND hypertable_name = 'candles'`).Scan(&compressAfter))
	require.Equal(t, "10 days", compressAfter)
}

// ownedDB makes a login role without superuser, gives it a fresh database
// on the server of admin, and returns the database's URL as that role.
func ownedDB(t *testing.T, admin string, newDB func(testing.TB) string) string {
	t.Helper()
	ctx := context.Background()
	role := "mdingest_owner_" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_")
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	defer conn.Close(ctx)
	ident := pgx.Identifier{role}.Sanitize()
	_, err = conn.Exec(ctx, "CREATE ROLE "+ident+" LOGIN")
	require.NoError(t, err)
	t.Cleanup(func() { // after the database is dropped
		c, err := pgx.Connect(context.Background(), admin)
		require.NoError(t, err)
		defer c.Close(context.Background())
		_, err = c.Exec(context.Background(), "DROP ROLE "+ident)
		require.NoError(t, err)
	})
	dbURL := newDB(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()+" OWNER TO "+ident)
	require.NoError(t, err)
	u.User = url.User(role)
	return u.String()
}

// TestMigrateAsOwner migrates as a database owner without superuser, who
// may not read shared_preload_libraries: on a server with TimescaleDB
// installed but not preloaded the plain-PostgreSQL variant is used (creating
// the extension there would end the session), and on one that preloads it
// the owner creates the (trusted) extension.
func TestMigrateAsOwner(t *testing.T) {
	for _, c := range []struct {
		name  string
		admin func(testing.TB) string
		newDB func(testing.TB) string
		want  schema.Variant
	}{
		{"installed not preloaded", func(testing.TB) string { return pgtest.AdminURL() }, pgtest.NewDB, schema.Postgres},
		{"preloaded", pgtest.TimescaleAdminURL, pgtest.TimescaleDB, schema.TimescaleDB},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := ownedDB(t, c.admin(t), c.newDB)
			m, err := schema.Open(context.Background(), url, schema.ModeAuto, nil)
			require.NoError(t, err)
			defer m.Close()
			require.Equal(t, c.want, m.Variant())
			require.NoError(t, m.Up())
		})
	}
}
