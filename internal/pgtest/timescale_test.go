package pgtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/mdingest/mdingest/internal/schema"
)

func TestMain(m *testing.M) { Main(m) }

// TestTimescaleDB checks the shared cluster runs the real extension with
// what the product relies on: COPY into a hypertable over several
// connections at once, chunks, compression and continuous aggregates.
func TestTimescaleDB(t *testing.T) {
	ctx := context.Background()
	url := TimescaleDB(t)
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()

	var ext int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").Scan(&ext))
	require.Zero(t, ext, "a fresh database starts without the extension; migrations create it")
	_, err = pool.Exec(ctx, `
		CREATE EXTENSION IF NOT EXISTS timescaledb;
		CREATE TABLE candles (ts timestamptz NOT NULL, symbol text NOT NULL, close numeric NOT NULL, PRIMARY KEY (symbol, ts));
		SELECT create_hypertable('candles', by_range('ts', INTERVAL '1 day'));`)
	require.NoError(t, err)
	var version string
	require.NoError(t, pool.QueryRow(ctx, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").Scan(&version))
	require.Equal(t, "2.28.3", version, "the version users are told to run")

	// Four concurrent COPYs, three days of minutes each.
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var g errgroup.Group
	for s := range 4 {
		g.Go(func() error {
			rows := make([][]any, 0, 3*1440)
			for i := range 3 * 1440 {
				rows = append(rows, []any{start.Add(time.Duration(i) * time.Minute), "SYM" + string(rune('A'+s)), "100.5"})
			}
			_, err := pool.CopyFrom(ctx, pgx.Identifier{"candles"}, []string{"ts", "symbol", "close"}, pgx.CopyFromRows(rows))
			return err
		})
	}
	require.NoError(t, g.Wait())
	var n, chunks int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM candles").Scan(&n))
	require.Equal(t, 4*3*1440, n)
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM show_chunks('candles')").Scan(&chunks))
	require.Equal(t, 3, chunks)

	_, err = pool.Exec(ctx, `ALTER TABLE candles SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol')`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `SELECT compress_chunk(c) FROM show_chunks('candles') c`)
	require.NoError(t, err)
	var compressed int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM timescaledb_information.chunks
		WHERE hypertable_name = 'candles' AND is_compressed`).Scan(&compressed))
	require.Equal(t, 3, compressed)

	_, err = pool.Exec(ctx, `CREATE MATERIALIZED VIEW candles_1h WITH (timescaledb.continuous) AS
		SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket, symbol, count(*) AS n FROM candles GROUP BY 1, 2 WITH NO DATA`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "CALL refresh_continuous_aggregate('candles_1h', NULL, NULL)")
	require.NoError(t, err)
	var total int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT sum(n) FROM candles_1h").Scan(&total))
	require.EqualValues(t, 4*3*1440, total)
}

func TestTimescaleDBIsolated(t *testing.T) {
	a, b := TimescaleDB(t), TimescaleDB(t)
	require.NotEqual(t, a, b)
	require.Equal(t, TimescaleAdminURL(t), TimescaleAdminURL(t), "one cluster per test binary")
}

func TestTimescaleMigratedDB(t *testing.T) {
	ctx := context.Background()
	url := TimescaleMigratedDB(t)
	m, err := schema.Open(ctx, url, schema.ModeAuto, nil)
	require.NoError(t, err)
	defer m.Close()
	require.Equal(t, schema.TimescaleDB, m.Variant())
	v, dirty, err := m.Version()
	require.NoError(t, err)
	latest, err := schema.Latest()
	require.NoError(t, err)
	require.Equal(t, latest, v)
	require.False(t, dirty)
}

func TestBackendsMigrateToTheirVariant(t *testing.T) {
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			m, err := schema.Open(ctx, b.MigratedDB(t), schema.ModeAuto, nil)
			require.NoError(t, err)
			defer m.Close()
			require.Equal(t, b.Variant, m.Variant())
		})
	}
}

// TestClusterStopStart checks what outage tests rely on: a stopped cluster
// refuses connections, and starts again on the same port with its data.
func TestClusterStopStart(t *testing.T) {
	ctx := context.Background()
	c := NewCluster(t, ClusterOptions{})
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)")
	require.NoError(t, err)
	port := c.Port()

	require.NoError(t, c.Stop())
	require.Error(t, conn.Ping(ctx), "the open session was cut")
	_, err = pgx.Connect(ctx, c.URL("postgres"))
	require.Error(t, err)

	require.NoError(t, c.Start())
	require.Equal(t, port, c.Port())
	conn, err = pgx.Connect(ctx, c.URL("postgres"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var v int
	require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
	require.Equal(t, 7, v)
}

// TestClusterRemoved checks nothing is left behind: no process, no files.
func TestClusterRemoved(t *testing.T) {
	c, err := StartCluster(ClusterOptions{Timescale: true})
	require.NoError(t, err)
	pid := c.running.cmd.Process.Pid
	dir := c.dir
	require.NoError(t, c.Remove())
	_, err = os.Stat(dir)
	require.True(t, errors.Is(err, os.ErrNotExist), "cluster directory removed")
	_, err = os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
	require.True(t, errors.Is(err, os.ErrNotExist), "postmaster %d gone", pid)
}

// TestMissingTimescaleFails checks a machine without the extension gets an
// error that says how to install it, not a skip.
func TestMissingTimescaleFails(t *testing.T) {
	bin := t.TempDir()
	real, err := PGBin()
	require.NoError(t, err)
	for _, name := range []string{"initdb", "postgres"} {
		require.NoError(t, os.Symlink(filepath.Join(real, name), filepath.Join(bin, name)))
	}
	lib := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bin, "pg_config"), []byte("#!/bin/sh\necho "+lib+"\n"), 0o755))
	t.Setenv(EnvPGBin, bin)
	_, err = StartCluster(ClusterOptions{Timescale: true})
	require.ErrorIs(t, err, ErrNoTimescale)
	require.Contains(t, err.Error(), "make timescaledb")
	require.Contains(t, err.Error(), EnvTimescaleURL)
	require.Contains(t, err.Error(), lib)
}
