package pgtest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // registers pgx5://
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

func newPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	SingleSession(cfg)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func TestTimescaleURL(t *testing.T) {
	url := Timescale(t)
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	require.Equal(t, pgx.QueryExecModeCacheDescribe, cfg.DefaultQueryExecMode)
	require.NotEmpty(t, cfg.Password)
	require.Nil(t, cfg.TLSConfig, "sslmode=disable")
	require.Equal(t, "127.0.0.1", cfg.Host)
	require.NotZero(t, cfg.Port)
}

func TestTimescaleFeatures(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, Timescale(t))

	var ext int
	require.NoError(t, pool.QueryRow(ctx,
		"SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").Scan(&ext))
	require.Zero(t, ext, "the server starts without the extension; clients create it")

	_, err := pool.Exec(ctx, `
		CREATE EXTENSION IF NOT EXISTS timescaledb;
		CREATE TABLE candles (
			ts timestamptz NOT NULL,
			symbol text NOT NULL,
			close numeric NOT NULL,
			PRIMARY KEY (symbol, ts)
		);
		SELECT create_hypertable('candles', by_range('ts', INTERVAL '1 day'));`)
	require.NoError(t, err)

	var hypertables int
	require.NoError(t, pool.QueryRow(ctx,
		"SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'candles'").Scan(&hypertables))
	require.Equal(t, 1, hypertables)

	// Rows go in batched (COPY would crash the server): 3 hours of minutes.
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := &pgx.Batch{}
	for i := range 180 {
		batch.Queue("INSERT INTO candles (ts, symbol, close) VALUES ($1, $2, $3)",
			start.Add(time.Duration(i)*time.Minute), "BTC/USDT", "100.5")
	}
	require.NoError(t, pool.SendBatch(ctx, batch).Close())

	rows, err := pool.Query(ctx, `
		SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket, count(*)
		FROM candles GROUP BY bucket ORDER BY bucket`)
	require.NoError(t, err)
	type bucket struct {
		At time.Time
		N  int64
	}
	buckets, err := pgx.CollectRows(rows, pgx.RowToStructByPos[bucket])
	require.NoError(t, err)
	require.Len(t, buckets, 3)
	for i, b := range buckets {
		require.True(t, start.Add(time.Duration(i)*time.Hour).Equal(b.At), b.At)
		require.EqualValues(t, 60, b.N)
	}

	// A continuous aggregate can't be created WITH DATA in a transaction (as
	// migrations run), so: WITH NO DATA, then refresh.
	_, err = pool.Exec(ctx, `
		CREATE MATERIALIZED VIEW candles_1h WITH (timescaledb.continuous) AS
		SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket, symbol, count(*) AS n
		FROM candles GROUP BY bucket, symbol
		WITH NO DATA`)
	require.NoError(t, err)
	var materialized int
	require.NoError(t, pool.QueryRow(ctx,
		"SELECT count(*) FROM _timescaledb_internal._materialized_hypertable_2").Scan(&materialized))
	require.Zero(t, materialized, "WITH NO DATA materializes nothing")

	_, err = pool.Exec(ctx, "CALL refresh_continuous_aggregate('candles_1h', NULL, NULL)")
	require.NoError(t, err)
	require.NoError(t, pool.QueryRow(ctx,
		"SELECT count(*) FROM _timescaledb_internal._materialized_hypertable_2").Scan(&materialized))
	require.Equal(t, 3, materialized)
	var total int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT sum(n) FROM candles_1h").Scan(&total))
	require.EqualValues(t, 180, total)
}

func TestTimescaleTypesAndErrors(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, Timescale(t))

	_, err := pool.Exec(ctx, `CREATE TABLE v (
		id bigint PRIMARY KEY, price numeric, ts timestamptz, tags text[], doc jsonb, raw bytea, ok bool, f float8)`)
	require.NoError(t, err)

	ts := time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC)
	_, err = pool.Exec(ctx, "INSERT INTO v VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		int64(1)<<40, "65432.123456789012345678", ts, []string{"a", "b"}, map[string]any{"k": "v"}, []byte{0, 1, 255}, true, 0.1)
	require.NoError(t, err)

	// Results come back in binary format, as in production: numeric keeps
	// every digit, and a timestamptz does not scan into a string.
	var (
		price pgtype.Numeric
		gotTS time.Time
		tags  []string
		doc   map[string]any
		raw   []byte
		ok    bool
		f     float64
	)
	require.NoError(t, pool.QueryRow(ctx, "SELECT price, ts, tags, doc, raw, ok, f FROM v WHERE id = $1", int64(1)<<40).
		Scan(&price, &gotTS, &tags, &doc, &raw, &ok, &f))
	text, err := price.Value()
	require.NoError(t, err)
	require.Equal(t, "65432.123456789012345678", text)
	require.True(t, ts.Equal(gotTS), gotTS)
	require.Equal(t, []string{"a", "b"}, tags)
	require.Equal(t, map[string]any{"k": "v"}, doc)
	require.Equal(t, []byte{0, 1, 255}, raw)
	require.True(t, ok)
	require.InDelta(t, 0.1, f, 0)
	var asText string
	require.Error(t, pool.QueryRow(ctx, "SELECT ts FROM v").Scan(&asText))

	// Arrays through unnest: the bulk-insert path that replaces COPY here.
	_, err = pool.Exec(ctx, "INSERT INTO v (id, price) SELECT * FROM unnest($1::bigint[], $2::numeric[])",
		[]int64{2, 3}, []string{"0.00000001", "1e-8"})
	require.NoError(t, err)
	var sum string
	require.NoError(t, pool.QueryRow(ctx, "SELECT sum(price)::text FROM v WHERE id IN (2, 3)").Scan(&sum))
	require.Equal(t, "0.00000002", sum)

	// SQLSTATEs arrive intact and the session stays usable after an error.
	_, err = pool.Exec(ctx, "INSERT INTO v (id) VALUES (2)")
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "23505", pgErr.Code)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO v (id) VALUES (10)")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM v").Scan(&n))
	require.Equal(t, 3, n, "the rolled-back row is gone")
}

// The server is one backend session: what a connection leaves behind is seen
// by the next. This is why URLs must not use pgx's statement cache.
func TestTimescaleOneSession(t *testing.T) {
	ctx := context.Background()
	url := Timescale(t)

	first, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	_, err = first.Exec(ctx, "CREATE TEMP TABLE leftover (x int); PREPARE stmt AS SELECT 42")
	require.NoError(t, err)
	require.NoError(t, first.Close(ctx))

	second, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer second.Close(ctx)
	var x int
	require.NoError(t, second.QueryRow(ctx, "EXECUTE stmt").Scan(&x))
	require.Equal(t, 42, x)
	_, err = second.Exec(ctx, "INSERT INTO leftover VALUES (1)")
	require.NoError(t, err)
}

func TestTimescaleStopsAfterTest(t *testing.T) {
	var url string
	t.Run("inner", func(t *testing.T) {
		url = Timescale(t)
		conn, err := pgx.Connect(context.Background(), url)
		require.NoError(t, err)
		require.NoError(t, conn.Ping(context.Background()))
		require.NoError(t, conn.Close(context.Background()))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := pgx.Connect(ctx, url)
	require.Error(t, err, "the server is stopped when its test ends")
}

func TestTimescaleMigrate(t *testing.T) {
	ctx := context.Background()
	url := Timescale(t)
	src, err := iofs.New(fstest.MapFS{
		"1_candles.up.sql": {Data: []byte(`
			CREATE EXTENSION IF NOT EXISTS timescaledb;
			CREATE TABLE candles (ts timestamptz NOT NULL, symbol text NOT NULL, close numeric NOT NULL,
				PRIMARY KEY (symbol, ts));
			SELECT create_hypertable('candles', by_range('ts', INTERVAL '1 day'));`)},
		"1_candles.down.sql": {Data: []byte(`DROP TABLE candles;`)},
		"2_candles_1h.up.sql": {Data: []byte(`
			CREATE MATERIALIZED VIEW candles_1h WITH (timescaledb.continuous) AS
			SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket, symbol, max(close) AS high
			FROM candles GROUP BY bucket, symbol WITH NO DATA;`)},
		"2_candles_1h.down.sql": {Data: []byte(`DROP MATERIALIZED VIEW candles_1h;`)},
	}, ".")
	require.NoError(t, err)

	// pgx5:// selects golang-migrate's pgx/v5 driver; the URL's
	// default_query_exec_mode=exec passes through to it.
	m, err := migrate.NewWithSourceInstance("iofs", src, "pgx5"+url[len("postgres"):])
	require.NoError(t, err)
	require.NoError(t, m.Up())
	require.ErrorIs(t, m.Up(), migrate.ErrNoChange)
	require.NoError(t, m.Down())
	require.NoError(t, m.Up())
	version, dirty, err := m.Version()
	require.NoError(t, err)
	require.False(t, dirty)
	require.EqualValues(t, 2, version)
	srcErr, dbErr := m.Close()
	require.NoError(t, srcErr)
	require.NoError(t, dbErr)

	// A pool opened right after migrate closed its connection.
	pool := newPool(t, url)
	_, err = pool.Exec(ctx, "INSERT INTO candles VALUES ('2024-01-01T00:30:00Z', 'BTC/USDT', 1.5)")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "CALL refresh_continuous_aggregate('candles_1h', NULL, NULL)")
	require.NoError(t, err)
	var high string
	require.NoError(t, pool.QueryRow(ctx, "SELECT high::text FROM candles_1h").Scan(&high))
	require.Equal(t, "1.5", high)
}

func TestSingleSession(t *testing.T) {
	tests := []struct {
		url  string
		want pgx.QueryExecMode
	}{
		{"postgres://u:p@127.0.0.1:1/db?pool_max_conns=8&pool_min_conns=2", pgx.QueryExecModeCacheDescribe},
		{"postgres://u:p@127.0.0.1:1/db?default_query_exec_mode=exec", pgx.QueryExecModeExec},
		{"postgres://u:p@127.0.0.1:1/db?default_query_exec_mode=simple_protocol", pgx.QueryExecModeSimpleProtocol},
	}
	for _, tt := range tests {
		cfg, err := pgxpool.ParseConfig(tt.url)
		require.NoError(t, err)
		SingleSession(cfg)
		require.EqualValues(t, 1, cfg.MaxConns)
		require.Zero(t, cfg.MinConns)
		require.Equal(t, tt.want, cfg.ConnConfig.DefaultQueryExecMode)
		require.Zero(t, cfg.ConnConfig.StatementCacheCapacity)
	}
}

func TestTimescaleCopyRefused(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, Timescale(t))
	_, err := pool.Exec(ctx, "CREATE TABLE c (x int)")
	require.NoError(t, err)

	_, err = pool.CopyFrom(ctx, pgx.Identifier{"c"}, []string{"x"}, pgx.CopyFromRows([][]any{{1}, {2}}))
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "0A000", pgErr.Code)

	// The server lives on, and inside a transaction the error aborts it as
	// PostgreSQL would.
	_, err = pool.Exec(ctx, "INSERT INTO c VALUES (3)")
	require.NoError(t, err)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"c"}, []string{"x"}, pgx.CopyFromRows([][]any{{4}}))
	require.ErrorAs(t, err, &pgErr)
	_, err = tx.Exec(ctx, "SELECT 1")
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "25P02", pgErr.Code, "in_failed_sql_transaction")
	require.NoError(t, tx.Rollback(ctx))
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM c").Scan(&n))
	require.Equal(t, 1, n)
}

// Concurrent connections are served one statement at a time without mixing
// up their protocol messages, and a transaction keeps the session to itself.
func TestTimescaleConcurrentClients(t *testing.T) {
	ctx := context.Background()
	url := Timescale(t)
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	_, err = pool.Exec(ctx, "CREATE TABLE w (worker int, i int, note text)")
	require.NoError(t, err)

	const workers, rounds = 4, 25
	var g errgroup.Group
	for w := range workers {
		g.Go(func() error {
			for i := range rounds {
				// Different statements per worker: a Bind landing on another
				// worker's unnamed statement would fail or return wrong data.
				var got string
				q := fmt.Sprintf("SELECT $1::text || '-%d'", w)
				if err := pool.QueryRow(ctx, q, strconv.Itoa(i)).Scan(&got); err != nil {
					return fmt.Errorf("worker %d query: %w", w, err)
				}
				if want := fmt.Sprintf("%d-%d", i, w); got != want {
					return fmt.Errorf("worker %d: got %q, want %q", w, got, want)
				}
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, "INSERT INTO w VALUES ($1, $2, $3)", w, i, "n"); err != nil {
						return err
					}
					var mine int
					if err := tx.QueryRow(ctx, "SELECT count(*) FROM w WHERE worker = $1", w).Scan(&mine); err != nil {
						return err
					}
					if mine != i+1 {
						return fmt.Errorf("worker %d sees %d rows in its transaction, want %d", w, mine, i+1)
					}
					return nil
				})
				if err != nil {
					return fmt.Errorf("worker %d tx: %w", w, err)
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM w").Scan(&n))
	require.Equal(t, workers*rounds, n)
}

// A query whose context ends is not cancelled on the server (PGlite runs it to
// the end), but the connection is released and the server serves the next
// one afterwards.
func TestTimescaleCanceledQuery(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, Timescale(t))
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := pool.Exec(short, "SELECT pg_sleep(0.5)")
	require.ErrorIs(t, err, context.DeadlineExceeded)

	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT $1::int", 7).Scan(&n))
	require.Equal(t, 7, n)
}

func TestTimescaleDefaultSSLMode(t *testing.T) {
	ctx := context.Background()
	url := strings.Replace(Timescale(t), "sslmode=disable&", "", 1)
	require.NotContains(t, url, "sslmode")
	// pgx's default sslmode=prefer asks for TLS first; the server says no.
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, conn.Ping(ctx))
}
